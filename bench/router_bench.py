"""Decision latency of every router on one CPU thread, for prompts of about 50, 500 and 8,000 tokens.

Builds each router as the proxy does (config.yaml's settings, the committed artifacts, the configured pool as
candidates) and times `route()` alone: feature extraction is timed by bench/features_bench.py. A router whose
artifact is missing is reported as falling back. Prints wall-clock p50 / p99 / max and the thread's CPU time
p50 / p99 in milliseconds, the time to build the router and its first decision after that; nothing is asserted. A router that remembers its queries' embeddings (perf_router,
trouter) is timed twice: on the same query again (an agent's tool loop), and with its memory emptied before
every decision (a query never seen: the figure to judge the decision budget by). A second table splits
perf_router's decision into its parts (encoder, prompt shape, features, trees, averaged network), CPU p50 of
each part timed alone.

Run: .venv/bin/python bench/router_bench.py [--repeats 300]
"""

from __future__ import annotations

import os

# One thread for every numeric library, as the proxy's routing thread would get; set before numpy loads.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from optmod.config import load_config  # noqa: E402
from optmod.encoders import STATIC_ENCODER_DIR  # noqa: E402
from optmod.features import extract_features  # noqa: E402
from optmod.registry import ModelRegistry  # noqa: E402
from optmod.routing import ROUTERS, RouteRequest, build_router  # noqa: E402
from optmod.routing.base import trim_query  # noqa: E402
from optmod.routing.perf_router import PerfRouter, describe_candidates  # noqa: E402
from optmod.routing.perf_router_inference import model_view, pair_features  # noqa: E402
from optmod.routing.prompt_shape import shape_features  # noqa: E402

PARAGRAPH = (
    "The service returns stale results after a deploy, and the cache keys include the build number. "
    "Explain why invalidation fails, propose a fix, and write the Python function that computes the key. "
)
# Everyday words: the whole-word entries of the static encoder's vocabulary after the special and single-character
# ones (BERT's vocabulary lists frequent words first).
COMMON_WORDS = slice(1996, 12000)


@functools.cache
def common_words() -> list[str]:
    vocabulary = Tokenizer.from_file(str(STATIC_ENCODER_DIR / "tokenizer.json")).get_vocab()
    return [w for w in sorted(vocabulary, key=vocabulary.__getitem__)[COMMON_WORDS] if w.isalpha()]


def make_prompt(tokens: int) -> str:
    """About `tokens` tokens (4 characters each): the task paragraph, then everyday words drawn at random (seeded),
    so that the text is not one paragraph repeated, which would flatter any per-word cache."""
    filler = np.random.default_rng(tokens).choice(common_words(), size=tokens).tolist()
    return (PARAGRAPH + " ".join(filler))[: tokens * 4]


def time_router(name: str, repeats: int, new_queries: bool = False) -> list[str]:
    """`new_queries`: the router's query embeddings are forgotten before every decision (a query never seen)."""
    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    started = time.perf_counter()
    active = build_router(name, config.routers, registry)
    load_ms = (time.perf_counter() - started) * 1000
    label = name if active.fallback_reason is None else f"{name} (falls back: rule_based)"
    queries = getattr(active.router, "queries", None)
    if new_queries:
        if queries is None:
            return []
        label += ", new query"
    rows = []
    first_ms = "-"
    for tokens in (50, 500, 8000):
        body = {"messages": [{"role": "user", "content": make_prompt(tokens)}]}
        request = RouteRequest(features=extract_features(body), candidates=registry.models)
        if not rows:  # the router's first decision since it was built: what the proxy's first request waits for
            started = time.perf_counter()
            active.router.route(request)
            first_ms = f"{(time.perf_counter() - started) * 1000:.1f}"
        for _ in range(10):
            decision = active.router.route(request)  # warm caches and lazy imports
        # perf_router skips its prediction for a prompt unlike every task type: that would not time the model.
        shown = f"{label} (unfamiliar prompt)" if "unfamiliar" in decision.reason else label
        samples = np.empty(repeats)
        cpu = np.empty(repeats)
        for i in range(repeats):
            if new_queries and queries is not None:
                queries.forget()
            start, start_cpu = time.perf_counter(), time.thread_time()
            active.router.route(request)
            samples[i] = (time.perf_counter() - start) * 1000
            cpu[i] = (time.thread_time() - start_cpu) * 1000
        p50, p99 = np.percentile(samples, [50, 99])
        cpu50, cpu99 = np.percentile(cpu, [50, 99])
        rows.append(
            f"| {shown} | {tokens} | {p50:.3f} | {p99:.3f} | {cpu50:.3f} | {cpu99:.3f} | {samples.max():.3f} | {load_ms:.0f} | {first_ms} |"
        )
    return rows


def cpu_p50_ms(work: Callable[[], object], repeats: int) -> float:
    work()
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        work()
        samples.append((time.thread_time() - start) * 1000)
    return float(np.percentile(samples, 50))


def perf_router_parts(repeats: int) -> list[str]:
    """CPU p50 of each part of perf_router's decision, for the three prompt sizes."""
    config = load_config()
    registry = ModelRegistry(config.models, config.primary_model)
    router = build_router("perf_router", config.routers, registry).router
    if not isinstance(router, PerfRouter):
        return ["perf_router falls back to rule_based: no parts to time"]
    return [
        f"| {tokens} | {time_parts(router, registry, make_prompt(tokens), repeats)} |" for tokens in (50, 500, 8000)
    ]


def time_parts(router: PerfRouter, registry: ModelRegistry, prompt: str, repeats: int) -> str:
    predictor = router.predictor
    models = describe_candidates(registry.models, router.model_registry)
    view = model_view(predictor.parts, models)
    query = trim_query(prompt)
    embedding = router.encoder.encode([query])
    chars = np.array([len(query)], dtype=np.float32)
    shapes = shape_features([query]) if predictor.parts.shape_features else None
    features = pair_features(predictor.parts, embedding, chars, models, view=view, shapes=shapes)
    parts = [
        lambda: router.encoder.encode([query]),
        lambda: shape_features([query]),
        lambda: pair_features(predictor.parts, embedding, chars, models, view=view, shapes=shapes),
        lambda: predictor.trees.predict(features),
        lambda: predictor.mlp.predict_quality(embedding, [query], models) if predictor.mlp else None,
    ]
    return " | ".join(f"{cpu_p50_ms(work, repeats):.3f}" for work in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    # Wall time suffers when other processes share the CPU; the thread's CPU time shows the work itself.
    print(
        "| router | prompt tokens | p50 ms | p99 ms | cpu p50 ms | cpu p99 ms | max ms | load ms | first decision ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ROUTERS:
        for row in time_router(name, args.repeats):
            print(row, flush=True)
        for row in time_router(name, args.repeats, new_queries=True):
            print(row, flush=True)
    print()
    print("| perf_router part (cpu p50 ms) | encoder | prompt shape | features | trees | network |")
    print("|---|---|---|---|---|---|")
    for row in perf_router_parts(args.repeats):
        print(row, flush=True)


if __name__ == "__main__":
    main()
