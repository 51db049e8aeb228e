"""The table of trainable routers: how `optmod train` and `optmod eval` train one and load what it learned.

Each learned router contributes one `RouterTrainer` entry to `TRAINERS`. Training reads only the rows it is
given (the caller passes the TRAIN split) and writes the router's artifacts to a folder; loading that folder
gives a `QualityPredictor`, the part of the router's runtime path that the offline evaluation calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from optmod.config import ROUTING_DIR
from optmod.encoders import Encoder
from optmod.training.data import RoutingDataset
from optmod.training.train_decision_tree import load_decision_tree, train_decision_tree
from optmod.training.train_perf_router import load_perf_router, perf_router_needs, train_perf_router
from optmod.training.train_trouter import load_trouter_predictor, train_trouter

if TYPE_CHECKING:
    from optmod.routing.model_description import ModelDescription

ARTIFACTS_DIR = ROUTING_DIR / "artifacts"


class QualityPredictor(Protocol):
    """Predicts each model's quality on each prompt, from the prompt's embedding, its text and model descriptions."""

    def predict_quality(
        self, embeddings: np.ndarray, prompts: Sequence[str], models: Sequence[ModelDescription]
    ) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class RouterTrainer:
    """How to train one learned router and load its predictor back. `default_out` is where the proxy reads it."""

    name: str
    train: Callable[[RoutingDataset, Encoder, Path, int], None]  # (train split, encoder, out_dir, seed)
    load: Callable[[Path], QualityPredictor]
    default_out: Path | None = None
    # The ml-extra modules training imports (checked before any data is read); the core install has the rest.
    needs: Callable[[], tuple[str, ...]] = tuple

    @property
    def artifact_dir(self) -> Path:
        return self.default_out or ARTIFACTS_DIR / self.name


TRAINERS: dict[str, RouterTrainer] = {
    "perf_router": RouterTrainer("perf_router", train_perf_router, load_perf_router, needs=perf_router_needs),
    "trouter": RouterTrainer("trouter", train_trouter, load_trouter_predictor, needs=lambda: ("torch",)),
    "decision_tree": RouterTrainer("decision_tree", train_decision_tree, load_decision_tree, ARTIFACTS_DIR),
}


class UnknownTrainerError(KeyError):
    """No trainable router has this name."""

    def __str__(self) -> str:
        return f"unknown router {self.args[0]!r}; trainable routers: {', '.join(TRAINERS) or '(none yet)'}"


def get_trainer(name: str) -> RouterTrainer:
    try:
        return TRAINERS[name]
    except KeyError:
        raise UnknownTrainerError(name) from None
