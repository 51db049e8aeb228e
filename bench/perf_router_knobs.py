"""Where perf_router sends traffic under different knob settings, for the configured pool.

    python bench/perf_router_knobs.py [--data ../shared/data] [--explain PROMPT]

Routes a fixed sample of prompts (the first 150 mmlu-pro prompts, every 100th routellm prompt, and a few chat
lines) with the committed artifact and prints, per setting, the expected cost per 1,000 requests and the
share of each model. It is how config.yaml's defaults were chosen. `--explain` prints instead the decision the
configured router (config.yaml's knobs) makes for one prompt: the pick, its reason and the top alternatives.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
from pathlib import Path

from optmod.config import load_config
from optmod.features import extract_features
from optmod.registry import ModelRegistry
from optmod.routing import RouteRequest, build_router
from optmod.routing.base import request_cost, trim_query
from optmod.routing.perf_router import PerfRouter

SETTINGS = [  # (degradation threshold, cost weight)
    (0.05, 1.0),
    (0.15, 1.0),
    (1.0, 3.0),
    (0.15, 3.0),
    (1.0, 10.0),
]
CHAT = ["hi", "thanks!", "write a haiku about rain", "what's the capital of France?", "fix this: def f(x): return x+"]


def sample_prompts(data: Path) -> list[str]:
    def prompts(name: str) -> list[str]:
        with gzip.open(data / name / "prompts.jsonl.gz", "rt") as handle:
            return [json.loads(line)["prompt"] for line in handle]

    return prompts("mmlu-pro")[:150] + prompts("routellm")[::100][:150] + CHAT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--explain", metavar="PROMPT", help="show config.yaml's decision for this prompt")
    args = parser.parse_args()
    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    if args.explain is not None:
        active = build_router("perf_router", config.routers, registry)
        features = extract_features({"messages": [{"role": "user", "content": args.explain}]})
        decision = active.router.route(RouteRequest(features, registry.models))
        print(f"{decision.model}: {decision.reason}")
        for score in sorted(decision.scores, key=lambda s: -s.score)[:4]:
            print(
                f"  {score.model}: predicted quality {score.quality:.3f}, cost ${score.cost:.6f}, score {score.score:.3f}"
            )
        return
    prompts = sample_prompts(args.data)
    for threshold, alpha in SETTINGS:
        knobs = config.routers.perf_router.model_copy(
            update={"perf_router_degradation_threshold": threshold, "perf_router_cost_weight": alpha}
        )
        router = build_router("perf_router", config.routers.model_copy(update={"perf_router": knobs}), registry)
        picks: collections.Counter[str] = collections.Counter()
        cost = 0.0
        for prompt in prompts:
            features = extract_features({"messages": [{"role": "user", "content": prompt}]})
            request = RouteRequest(features, registry.models)
            decision = router.router.route(request)
            picks[decision.model] += 1
            cost += request_cost(registry[decision.model], request)
        shares = ", ".join(f"{name} {count / len(prompts):.0%}" for name, count in picks.most_common())
        print(f"threshold {threshold:<4} alpha {alpha:<4} ${cost / len(prompts) * 1000:.3f} per 1k requests: {shares}")
    floor = config.routers.perf_router.perf_router_min_similarity
    perf_router = build_router("perf_router", config.routers, registry).router
    assert isinstance(perf_router, PerfRouter), "perf_router fell back: see its log line"
    # As perf_router judges it: the best task similarity of the query as the router embeds it.
    unfamiliar = [
        p for p in prompts if perf_router.predictor.task_mix(perf_router.queries.embed(trim_query(p)))[0].max() < floor
    ]
    chat = sum(p in CHAT for p in unfamiliar)
    print(
        f"unfamiliar (best task similarity below {floor}): "
        f"{len(unfamiliar) - chat} of {len(prompts) - len(CHAT)} benchmark prompts, {chat} of {len(CHAT)} chat lines"
    )


if __name__ == "__main__":
    main()
