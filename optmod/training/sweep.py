"""Turning per-prompt choices into (mean cost, mean quality) curves: the cost-knob sweeps and the baselines.

Everything here is pure arithmetic on the test outcomes of one pool (`OutcomeTable`) and a router's predicted
qualities. Multi-model pools sweep alpha in `argmax(predicted quality - alpha * expected cost)`, with the
expected cost in units of the pool's dearest model's mean expected cost, so one alpha grid fits every data
set. Two-model pools also sweep the share of prompts sent to the strong model, ranked by predicted gain, as
RouteLLM does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHAS = (0.0, *np.geomspace(1e-3, 1e3, 61).tolist())
SHARES = tuple(np.linspace(0.0, 1.0, 51).tolist())
MIX_WEIGHTS = tuple(np.linspace(0.0, 1.0, 11).tolist())
# Random draws averaged per mixing weight: one draw's luck would show as a better-than-blind random router.
RANDOM_DRAWS = 20
# Breaks ties between equal predicted qualities toward the cheaper model without moving any real decision.
TIE_BREAK = 1e-9


@dataclass(frozen=True, slots=True)
class OutcomeTable:
    """The test prompts of one pool: realised quality and cost, and the cost a router can expect beforehand."""

    quality: np.ndarray  # (n, m)
    cost: np.ndarray  # (n, m) USD, realised
    expected_cost: np.ndarray  # (n, m) USD, from prompt length and median train output tokens
    groups: tuple[str, ...]  # category group of each prompt

    def rows(self, mask: np.ndarray) -> OutcomeTable:
        return OutcomeTable(
            self.quality[mask],
            self.cost[mask],
            self.expected_cost[mask],
            tuple(g for g, keep in zip(self.groups, mask, strict=True) if keep),
        )

    @property
    def single_costs(self) -> np.ndarray:
        return np.asarray(self.cost.mean(axis=0), dtype=np.float64)

    @property
    def single_qualities(self) -> np.ndarray:
        return np.asarray(self.quality.mean(axis=0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One setting of a router's knob and what it realised on the test prompts."""

    knob: float
    cost: float
    quality: float
    strong_share: float | None = None


def realise(table: OutcomeTable, choice: np.ndarray, knob: float, strong: int | None = None) -> CurvePoint:
    rows = np.arange(len(choice))
    share = None if strong is None else float(np.mean(choice == strong))
    return CurvePoint(
        knob=float(knob),
        cost=float(table.cost[rows, choice].mean()),
        quality=float(table.quality[rows, choice].mean()),
        strong_share=share,
    )


def alpha_sweep(
    table: OutcomeTable,
    predicted: np.ndarray,
    costs: np.ndarray | None = None,
    strong: int | None = None,
    alphas: Sequence[float] = ALPHAS,
) -> list[CurvePoint]:
    """Per alpha, each prompt goes to argmax(predicted quality - alpha * cost), cost in dearest-model units."""
    costs = table.expected_cost if costs is None else costs
    unit = float(costs.mean(axis=0).max()) or 1.0
    scaled = costs / unit
    return [
        realise(table, np.argmax(predicted - (alpha + TIE_BREAK) * scaled, axis=1), alpha, strong) for alpha in alphas
    ]


def share_sweep(
    table: OutcomeTable, gain: np.ndarray, weak: int, strong: int, shares: Sequence[float] = SHARES
) -> list[CurvePoint]:
    """Send the share s of prompts with the highest `gain` to the strong model, the rest to the weak one."""
    order = np.argsort(-gain, kind="stable")
    points = []
    for share in shares:
        choice = np.full(len(gain), weak, dtype=np.int64)
        choice[order[: round(share * len(gain))]] = strong
        points.append(realise(table, choice, share, strong))
    return points


def single_model_points(table: OutcomeTable, strong: int | None = None) -> list[CurvePoint]:
    """Each model alone; with a strong model named, its share of calls is 1 and every other's 0."""
    return [
        CurvePoint(float(j), c, q, None if strong is None else float(j == strong))
        for j, (c, q) in enumerate(zip(table.single_costs, table.single_qualities, strict=True))
    ]


def efficient_singles(table: OutcomeTable) -> list[int]:
    """Single models on the quality-cost frontier, cheapest first: the ones worth mixing without looking."""
    order = np.argsort(table.single_costs, kind="stable")
    frontier: list[int] = []
    for j in order:
        if not frontier or table.single_qualities[j] > table.single_qualities[frontier[-1]]:
            frontier.append(int(j))
    return frontier


def random_points(table: OutcomeTable, seed: int) -> list[CurvePoint]:
    """A router choosing at random, mixing each pair of neighbouring frontier models in steps of 10%."""
    rng = np.random.default_rng(seed)
    frontier = efficient_singles(table)
    n = len(table.quality)
    if len(frontier) == 1:
        return [realise(table, np.full(n, frontier[0]), 0.0)]
    points = []
    for low, high in itertools.pairwise(frontier):
        for weight in MIX_WEIGHTS:
            draws = [realise(table, np.where(rng.random(n) < weight, high, low), weight) for _ in range(RANDOM_DRAWS)]
            points.append(
                CurvePoint(
                    knob=weight,
                    cost=float(np.mean([d.cost for d in draws])),
                    quality=float(np.mean([d.quality for d in draws])),
                )
            )
    return points


def oracle_points(table: OutcomeTable, strong: int | None = None) -> list[CurvePoint]:
    """The router that knows every outcome: the best true quality for each price of cost."""
    return alpha_sweep(table, table.quality.astype(np.float64), costs=table.cost, strong=strong)
