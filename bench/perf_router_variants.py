"""perf_router settings compared on a validation split carved from TRAIN (the test split is never read).

    .venv/bin/python bench/perf_router_variants.py '{"relative": {}, "absolute": {"relative_target": false}}' \
        [--cases p1,p2,lmo,rmmlu,rgsm] [--share 0.2] [--seeds 0,1] [--data ../shared/data]

Each variant overrides fields of `PerfRouterHyperParameters`; each case is one of the README's evaluation pools.
Prints perf_router's metrics per variant and case next to the no-routing and kNN baselines of the same split.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
from pathlib import Path

from optmod.encoders import Encoder
from optmod.training import evaluate, registry
from optmod.training.data import RoutingDataset
from optmod.training.train_perf_router import PerfRouterHyperParameters, load_perf_router, train_perf_router

P1 = ("Meta-Llama-3_1-8B-Instruct", "gemini-1.5-flash-002", "gemini-1.5-pro-002")
P2 = ("Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct", "gemini-1.5-pro-002")
LMO = (
    "Phi-3-mini-4k-instruct",
    "Meta-Llama-3_1-8B-Instruct",
    "gemini-1.5-flash-002",
    "Meta-Llama-3_1-70B-Instruct",
    "gemini-1.5-pro-002",
)
CASES: dict[str, dict[str, object]] = {
    "p1": {"data": "mmlu-pro", "pool": P1},
    "p2": {"data": "mmlu-pro", "pool": P2},
    "lmo": {"data": "mmlu-pro", "pool": LMO, "leave_models_out": True},
    "rmmlu": {"data": "routellm", "category": "mmlu"},
    "rgsm": {"data": "routellm", "category": "gsm8k"},
}
SHOWN = ("aiq", "cost_ratio_at_95", "cost_ratio_at_98", "apgr", "cpt50", "cpt80")
BASELINES = ("no_routing", "knn50")


def variant_trainer(params: PerfRouterHyperParameters) -> registry.RouterTrainer:
    def train(dataset: RoutingDataset, encoder: Encoder, out: Path, seed: int) -> None:
        train_perf_router(dataset, encoder, out, seed, params=params)

    return registry.RouterTrainer("perf_router", train, load_perf_router)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", help='JSON: {"name": {"field": value, ...}, ...}')
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seeds", default="0", help="validation splits (and training seeds), comma-separated")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for name, overrides in json.loads(args.variants).items():
        params = dataclasses.replace(PerfRouterHyperParameters(), **overrides)
        # Each variant trains into a cache folder of its own settings: the trainer's fingerprint covers the code,
        # not the overrides, so two runs that give one name different overrides never share a trained router.
        settings = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
        registry.TRAINERS["perf_router"] = variant_trainer(params)
        for case, seed in itertools.product(args.cases.split(","), [int(s) for s in args.seeds.split(",")]):
            spec = CASES[case]
            request = evaluate.EvalRequest(
                data=args.data / str(spec["data"]),
                routers=("perf_router",),
                pool=tuple(spec.get("pool", ())),  # type: ignore[arg-type]
                category=spec.get("category"),  # type: ignore[arg-type]
                leave_models_out=bool(spec.get("leave_models_out", False)),
                validation_share=args.share,
                seed=seed,
                timing_queries=0,
                trained_dir=evaluate.TRAINED_CACHE_DIR.parent / "variants" / f"{name}-{settings}-{args.share}",
            )
            for result in evaluate.evaluate(request).results:
                if result.kind != "single" and result.name.startswith(("perf_router", *BASELINES)):
                    figures = " ".join(f"{k}={v:.3f}" for k in SHOWN if (v := result.metrics.get(k)) is not None)
                    print(f"{name:12s} {case:6s} seed {seed} {result.name:22s} {figures}", flush=True)


if __name__ == "__main__":
    main()
