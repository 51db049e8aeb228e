"""The issue's simple baselines, measured again: which of them needs the prompts' own category labels.

    .venv/bin/python bench/simple_baselines.py [--cases p1,p2,rmmlu,rgsm] [--validation 0.2 --seed 0]
                                                [--data ../shared/data]

For each case (the evaluation pools of `bench/perf_router_variants.py`) it scores, on the test split (or, with
`--validation`, on a share of TRAIN):
- `knn50`: each model's mean outcome on the 50 nearest train prompts, with the static and the MiniLM encoder;
- `logreg`: one logistic regression per model on MiniLM embeddings (outcome above 0.5);
- `category prior (labels)`: each model's mean outcome over the train prompts of the prompt's OWN category, read
  from the data set's `category` column, which a proxy never sees;
- `category mix (predicted)`: perf_router's category signal, the same means weighted by a classifier's odds
  from the static embedding, which is what a proxy can have;
- two blends (plain averages of the predictions).
Nothing here is trained on the split it reports.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optmod.encoders import EMBEDDING_CACHE_DIR, cached_embeddings, load_encoder
from optmod.routing.perf_router_inference import category_mix
from optmod.training.data import RoutingDataset, load_dataset
from optmod.training.evaluate import EvalRequest, build_frame, knn_quality, pool_tables, router_result
from optmod.training.train_perf_router import PerfRouterHyperParameters, fit_categories

P1 = ("Meta-Llama-3_1-8B-Instruct", "gemini-1.5-flash-002", "gemini-1.5-pro-002")
P2 = ("Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct", "gemini-1.5-pro-002")
CASES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "p1": ("mmlu-pro", P1, None),
    "p2": ("mmlu-pro", P2, None),
    "rmmlu": ("routellm", (), "mmlu"),
    "rgsm": ("routellm", (), "gsm8k"),
}
SHOWN = ("aiq", "cost_ratio_at_95", "cost_ratio_at_98", "apgr", "cpt50", "cpt80")


def label_prior(train: RoutingDataset, categories: list[str]) -> np.ndarray:
    """Each model's mean train outcome in each prompt's own labelled category (overall mean if unseen)."""
    train_categories = np.asarray(train.categories)
    overall = np.asarray(np.nanmean(train.quality, axis=0))
    means: dict[str, np.ndarray] = {
        c: np.nanmean(train.quality[train_categories == c], axis=0) for c in np.unique(train_categories)
    }
    return np.stack([means.get(c, overall) for c in categories])


def logistic(train_embeddings: np.ndarray, quality: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    columns = []
    for j in range(quality.shape[1]):
        known = ~np.isnan(quality[:, j])
        fitted = LogisticRegression(C=1.0, max_iter=3000).fit(train_embeddings[known], quality[known, j] > 0.5)
        columns.append(fitted.predict_proba(embeddings)[:, 1])
    return np.column_stack(columns)


def run_case(data: Path, pool: tuple[str, ...], category: str | None, validation: float, seed: int) -> None:
    full = load_dataset(data)
    if validation:
        full = full.validation_split(validation, seed)
    test, table, _, train_quality = pool_tables(full, EvalRequest(data=data, pool=pool, category=category))
    frame = build_frame(table, test.model_names, train_quality)
    train = full.split("train").select_models(frame.models)
    static, minilm = load_encoder("static"), load_encoder("minilm")
    train_static, test_static = (cached_embeddings(d, static, EMBEDDING_CACHE_DIR) for d in (train, test))
    train_minilm, test_minilm = (cached_embeddings(d, minilm, EMBEDDING_CACHE_DIR) for d in (train, test))
    knn_static = knn_quality(train_static, train.quality, test_static, 50)
    knn_minilm = knn_quality(train_minilm, train.quality, test_minilm, 50)
    logreg = logistic(train_minilm, train.quality, test_minilm)
    prior = label_prior(train, list(test.categories))
    classifier = fit_categories(train_static, train.categories, train.quality, PerfRouterHyperParameters())
    predictions: dict[str, Callable[[], np.ndarray]] = {
        "knn50 [static]": lambda: knn_static,
        "knn50 [minilm]": lambda: knn_minilm,
        "logreg [minilm]": lambda: logreg,
        "category prior (labels)": lambda: prior,
        "category mix (predicted)": lambda: category_mix(classifier, test_static),
        "blend: labels + knn50 [minilm]": lambda: (prior + knn_minilm) / 2,
        "blend: labels + knn50 + logreg [minilm]": lambda: (prior + knn_minilm + logreg) / 3,
    }
    where = f"validation {validation} seed {seed}" if validation else "test split"
    print(f"\n{data.name} pool={','.join(frame.models)} category={category} ({len(test)} prompts, {where})")
    for name, predict in predictions.items():
        metrics = router_result(name, "-", predict(), table, frame, {}).metrics
        shown = "  ".join(f"{k}={metrics[k]:.3f}" for k in SHOWN if metrics.get(k) is not None)
        print(f"  {name:42s} {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--validation", type=float, default=0.0, help="score a share of TRAIN instead of test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for case in args.cases.split(","):
        folder, pool, category = CASES[case]
        run_case(args.data / folder, pool, category, args.validation, args.seed)


if __name__ == "__main__":
    main()
