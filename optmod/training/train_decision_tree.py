"""Training decision_tree: a scikit-learn regression tree over regex request features and model descriptions.

Writes `routing_policy.pkl` (the reference's name) into the output folder. Deterministic: the tree's
random_state is the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optmod.encoders import Encoder
from optmod.routing.decision_tree import (
    DEFAULT_COST_WEIGHT,
    TreePolicy,
    load_policy,
    pair_rows,
    prompt_features,
    request_vector,
    save_policy,
)
from optmod.routing.model_description import describe_dataset_models
from optmod.training.data import RoutingDataset

POLICY_FILE = "routing_policy.pkl"
MAX_DEPTH = 10
# Training requests kept in the artifact, on which each model's mean prediction is anchored to its capability.
REFERENCE_REQUESTS = 512
# A leaf holds at least this share of the training pairs (and 10): coarse enough to average out 0/1 noise.
MIN_LEAF_SHARE = 0.002


def request_matrix(prompts: tuple[str, ...]) -> np.ndarray:
    return np.stack([request_vector(prompt_features(p)) for p in prompts])


def train_decision_tree(train: RoutingDataset, encoder: Encoder, out_dir: Path, seed: int) -> None:
    """Fit the tree on `train` (the TRAIN split); the encoder is unused (the tree reads regex features)."""
    from sklearn.tree import DecisionTreeRegressor

    models = describe_dataset_models(train)
    requests = request_matrix(train.prompts)
    rows = pair_rows(requests, models)
    target = train.quality.reshape(-1)
    known = ~np.isnan(target)
    min_leaf = max(10, int(MIN_LEAF_SHARE * int(known.sum())))
    tree = DecisionTreeRegressor(max_depth=MAX_DEPTH, min_samples_leaf=min_leaf, random_state=seed)
    tree.fit(rows[known], target[known])
    meta = {"router": "decision_tree", "dataset": train.name, "train_prompts": len(train), "seed": seed}
    rng = np.random.default_rng(seed)
    reference = requests[np.sort(rng.choice(len(requests), size=min(REFERENCE_REQUESTS, len(requests)), replace=False))]
    save_policy(out_dir / POLICY_FILE, tree, DEFAULT_COST_WEIGHT, reference, meta)


def load_decision_tree(artifact_dir: Path) -> TreePolicy:
    """The policy in `artifact_dir` (a folder holding routing_policy.pkl, or the file itself)."""
    path = artifact_dir if artifact_dir.suffix == ".pkl" else artifact_dir / POLICY_FILE
    return load_policy(path)
