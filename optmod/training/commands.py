"""`optmod train`, `optmod eval` and `optmod distill-encoder`: the offline commands of the learned routers.

`register(subparsers)` adds them to the main CLI; `python -m optmod.training.commands ...` runs them alone.
Heavy modules (torch, xgboost, matplotlib) are imported inside each command, never when the CLI starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optmod.encoders import EMBEDDING_CACHE_DIR, STATIC_ENCODER_DIR
from optmod.training.distill import DEFAULT_DIMS

# Derived data (embeddings, routers trained for evaluation) lives under the repo's ignored .cache folder.
DEFAULT_CACHE_DIR = EMBEDDING_CACHE_DIR.parent

DEFAULT_SEED = 0
DEFAULT_ENCODER = "static"
Subparsers = Any  # argparse's _SubParsersAction is private; typed loosely at this edge


def register(subparsers: Subparsers) -> None:
    """Add `train`, `eval` and `distill-encoder` to an argparse subparsers object."""
    _add_train(subparsers)
    _add_eval(subparsers)
    _add_distill(subparsers)


def _add_train(subparsers: Subparsers) -> None:
    train = subparsers.add_parser("train", help="train a learned router on a data set's train split")
    train.add_argument("--data", type=Path, required=True, help="data set folder in the canonical format")
    train.add_argument("--router", required=True, help="router to train (decision_tree, trouter, perf_router)")
    train.add_argument("--out", type=Path, help="artifact folder (default: where the proxy reads the router's)")
    train.add_argument("--encoder", default=DEFAULT_ENCODER, help="static | minilm (default: %(default)s)")
    train.add_argument("--seed", type=int, default=DEFAULT_SEED)
    train.add_argument("--exclude-models", default="", help="comma-separated models to leave out of training")
    train.set_defaults(run=run_train)


def _add_eval(subparsers: Subparsers) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate routers and baselines on a data set's test split")
    evaluate.add_argument("--data", type=Path, required=True, help="data set folder in the canonical format")
    evaluate.add_argument("--router", action="append", default=[], help="router to evaluate (repeatable)")
    evaluate.add_argument("--pool", default="", help="comma-separated models (default: all the data set's)")
    evaluate.add_argument("--category", help="evaluate only prompts of this category (or under it: PREFIX/...)")
    evaluate.add_argument("--out", type=Path, default=Path("out/eval"), help="report folder (default: %(default)s)")
    evaluate.add_argument("--encoder", default=DEFAULT_ENCODER, help="static, minilm or both: static,minilm")
    evaluate.add_argument("--seed", type=int, default=DEFAULT_SEED)
    evaluate.add_argument("--leave-models-out", action="store_true", help="train the routers without the pool's models")
    evaluate.add_argument(
        "--validation",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="evaluate on this share of TRAIN, trained on the rest (for tuning; the test split is not read)",
    )
    evaluate.add_argument("--retrain", action="store_true", help="train again even if a cached model exists")
    evaluate.add_argument("--timing-queries", type=int, default=200, help="queries timed per router")
    evaluate.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="embeddings and trained routers")
    evaluate.set_defaults(run=run_eval)


def _add_distill(subparsers: Subparsers) -> None:
    distill = subparsers.add_parser("distill-encoder", help="distil the static encoder from MiniLM")
    distill.add_argument("--data", type=Path, action="append", default=[], help="data set folder (repeatable)")
    distill.add_argument("--out", type=Path, default=STATIC_ENCODER_DIR, help="artifact folder")
    distill.add_argument(
        "--dims", type=int, default=DEFAULT_DIMS, help="static vector dimensions (default: %(default)s)"
    )
    distill.set_defaults(run=run_distill)


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def run_train(args: argparse.Namespace) -> int:
    from optmod.encoders import load_encoder
    from optmod.training.data import load_dataset
    from optmod.training.registry import get_trainer

    trainer = get_trainer(args.router)
    dataset = load_dataset(args.data).split("train")
    excluded = _split_names(args.exclude_models)
    if excluded:
        dataset = dataset.without_models(excluded)
    encoder = load_encoder(args.encoder)
    out = args.out or trainer.artifact_dir
    started = time.perf_counter()
    trainer.train(dataset, encoder, out, args.seed)
    print(
        f"trained {trainer.name} on {dataset.name} train ({len(dataset)} prompts, {len(dataset.models)} models, "
        f"encoder {encoder.name}) in {time.perf_counter() - started:.1f} s -> {out}"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from optmod.training.evaluate import EvalRequest, evaluate
    from optmod.training.report import print_summary, write_report

    request = EvalRequest(
        data=args.data,
        routers=tuple(args.router),
        pool=tuple(_split_names(args.pool)),
        category=args.category,
        encoders=tuple(_split_names(args.encoder)),
        seed=args.seed,
        leave_models_out=args.leave_models_out,
        validation_share=args.validation,
        retrain=args.retrain,
        timing_queries=args.timing_queries,
        cache_dir=args.cache_dir / "embeddings",
        trained_dir=args.cache_dir / "trained",
    )
    report = evaluate(request)
    paths = write_report(report, args.out)
    print_summary(report)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from optmod.training.distill import distill_static_encoder

    folders = args.data or [Path("../shared/data") / name for name in ("mmlu-pro", "routellm")]
    summary = distill_static_encoder(folders, args.out, dims=args.dims)
    print(summary)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optmod.training.commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
