"""Routing data sets in the canonical format of `../shared/data` (see its README), loaded into arrays.

A data set folder holds `prompts.jsonl.gz` (id, prompt, category, split), `outcomes.csv.gz` (one row per
prompt and model: quality, cost_usd, output_tokens) and `models.csv` (prices, size). `load_dataset` turns it
into a `RoutingDataset`: one row per prompt, one column per model, quality NaN where an outcome is missing,
cost filled by the data README's rule where the file leaves it empty. Nothing here knows any data set's
model names or categories.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from optmod.features import CHARS_PER_TOKEN

PROMPTS_FILE = "prompts.jsonl.gz"
OUTCOMES_FILE = "outcomes.csv.gz"
MODELS_FILE = "models.csv"
SPLITS = ("train", "test")
TOKENS_PER_PRICE_UNIT = 1_000_000


class DataError(ValueError):
    """A data set folder is missing a file or holds rows that break the canonical format."""


@dataclass(frozen=True, slots=True)
class DatasetModel:
    """One model of a data set, described as a router sees it."""

    name: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    params_b: float | None


@dataclass(frozen=True)
class RoutingDataset:
    """Prompts by models: who answered what how well, and at what cost.

    `output_tokens` is NaN where the data set does not say; `median_output_tokens` fills the gaps.
    """

    name: str
    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    is_train: np.ndarray  # bool (n,)
    models: tuple[DatasetModel, ...]
    quality: np.ndarray  # float32 (n, m), NaN where the outcome is missing
    cost: np.ndarray  # float64 (n, m) USD
    output_tokens: np.ndarray | None = None  # float64 (n, m), NaN where unknown

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    @property
    def prompt_tokens(self) -> np.ndarray:
        """Estimated prompt tokens (characters / 4), what a router knows before the call."""
        return np.array([len(p) / CHARS_PER_TOKEN for p in self.prompts], dtype=np.float64)

    def subset(self, rows: np.ndarray) -> RoutingDataset:
        """The same data set restricted to `rows` (a boolean mask or an index array), in that order."""
        index = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows, dtype=np.int64)
        return replace(
            self,
            ids=tuple(self.ids[i] for i in index),
            prompts=tuple(self.prompts[i] for i in index),
            categories=tuple(self.categories[i] for i in index),
            is_train=self.is_train[index],
            quality=self.quality[index],
            cost=self.cost[index],
            output_tokens=None if self.output_tokens is None else self.output_tokens[index],
        )

    def split(self, which: Literal["train", "test"]) -> RoutingDataset:
        if which not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {which!r}")
        return self.subset(self.is_train if which == "train" else ~self.is_train)

    def validation_split(self, share: float, seed: int) -> RoutingDataset:
        """The TRAIN prompts only, a seeded `share` of them relabelled `test`: for choosing settings without
        looking at the real test split."""
        train = self.split("train")
        held = np.random.default_rng(seed).random(len(train)) < share
        return replace(train, is_train=~held)

    def select_models(self, names: Sequence[str]) -> RoutingDataset:
        """Only the models named, in that order, and only the prompts every one of them answered."""
        by_name = {m.name: i for i, m in enumerate(self.models)}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"{self.name}: unknown models {missing}; known: {', '.join(by_name)}")
        columns = np.array([by_name[n] for n in names], dtype=np.int64)
        narrowed = replace(
            self,
            models=tuple(self.models[c] for c in columns),
            quality=self.quality[:, columns],
            cost=self.cost[:, columns],
            output_tokens=None if self.output_tokens is None else self.output_tokens[:, columns],
        )
        return narrowed.subset(~np.isnan(narrowed.quality).any(axis=1))

    def without_models(self, names: Sequence[str]) -> RoutingDataset:
        """Every model except those named, keeping every prompt (for leave-models-out training)."""
        dropped = set(names)
        unknown = dropped - set(self.model_names)
        if unknown:
            raise DataError(f"{self.name}: unknown models {sorted(unknown)}; known: {', '.join(self.model_names)}")
        columns = np.array([j for j, m in enumerate(self.models) if m.name not in dropped], dtype=np.int64)
        return replace(
            self,
            models=tuple(self.models[c] for c in columns),
            quality=self.quality[:, columns],
            cost=self.cost[:, columns],
            output_tokens=None if self.output_tokens is None else self.output_tokens[:, columns],
        )

    def select_categories(self, prefix: str) -> RoutingDataset:
        """Prompts whose category is `prefix` or lies under it (`prefix/...`)."""
        below = prefix + "/"
        return self.subset(np.array([c == prefix or c.startswith(below) for c in self.categories], dtype=bool))

    def category_groups(self) -> tuple[str, ...]:
        """The top-level category groups (the part of `category` before the first `/`), sorted."""
        return tuple(sorted({c.split("/", 1)[0] for c in self.categories}))


def median_output_tokens(dataset: RoutingDataset) -> np.ndarray:
    """Each model's median output tokens over the rows given (0 where never known): the cost a router expects.

    Where the data set has no token counts, they are recovered from the cost and the prices.
    """
    tokens = dataset.output_tokens
    if tokens is None:
        tokens = _tokens_from_cost(dataset)
    medians = np.zeros(len(dataset.models), dtype=np.float64)
    for j in range(len(dataset.models)):
        known = tokens[:, j][~np.isnan(tokens[:, j])]
        if known.size:
            medians[j] = float(np.median(known))
    return medians


def _tokens_from_cost(dataset: RoutingDataset) -> np.ndarray:
    input_prices = np.array([m.input_usd_per_mtok for m in dataset.models])
    output_prices = np.array([m.output_usd_per_mtok for m in dataset.models])
    input_usd = dataset.prompt_tokens[:, None] * input_prices[None, :] / TOKENS_PER_PRICE_UNIT
    with np.errstate(divide="ignore", invalid="ignore"):
        tokens = (dataset.cost - input_usd) * TOKENS_PER_PRICE_UNIT / output_prices[None, :]
    tokens[:, output_prices == 0] = np.nan
    return np.asarray(np.clip(tokens, 0, None), dtype=np.float64)


def expected_costs(dataset: RoutingDataset, output_tokens: np.ndarray) -> np.ndarray:
    """(n, m) USD per prompt and model from the prompt length and `output_tokens` per model."""
    input_prices = np.array([m.input_usd_per_mtok for m in dataset.models], dtype=np.float64)
    output_prices = np.array([m.output_usd_per_mtok for m in dataset.models], dtype=np.float64)
    dollars = dataset.prompt_tokens[:, None] * input_prices[None, :] + (output_tokens * output_prices)[None, :]
    return np.asarray(dollars / TOKENS_PER_PRICE_UNIT, dtype=np.float64)


def load_dataset(folder: Path) -> RoutingDataset:
    """Read a data set folder in the canonical format; raises `DataError` naming the file and the problem."""
    folder = Path(folder)
    models = _read_models(folder / MODELS_FILE)
    ids, prompts, categories, is_train = _read_prompts(folder / PROMPTS_FILE)
    quality, cost, tokens = _read_outcomes(folder / OUTCOMES_FILE, ids, models)
    dataset = RoutingDataset(
        name=folder.resolve().name,
        ids=ids,
        prompts=prompts,
        categories=categories,
        is_train=is_train,
        models=models,
        quality=quality,
        cost=cost,
        output_tokens=tokens,
    )
    return _fill_costs(dataset)


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="")


def _optional_float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    return float(text)


def _read_csv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        absent = set(required) - set(reader.fieldnames or ())
        if absent:
            raise DataError(f"{path}: missing columns {sorted(absent)}")
        return list(reader)


def _read_models(path: Path) -> tuple[DatasetModel, ...]:
    rows = _read_csv(path, ("model", "input_usd_per_mtok", "output_usd_per_mtok"))
    models = []
    for line, row in enumerate(rows, start=2):
        try:
            models.append(
                DatasetModel(
                    name=row["model"],
                    input_usd_per_mtok=float(row["input_usd_per_mtok"]),
                    output_usd_per_mtok=float(row["output_usd_per_mtok"]),
                    params_b=_optional_float(row.get("params_b")),
                )
            )
        except ValueError as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
    if len({m.name for m in models}) != len(models) or not models:
        raise DataError(f"{path}: model names must be present and unique")
    return tuple(models)


def _read_prompts(path: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], np.ndarray]:
    ids: list[str] = []
    prompts: list[str] = []
    categories: list[str] = []
    train: list[bool] = []
    with _open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
                split = record["split"]
                if split not in SPLITS:
                    raise ValueError(f"split {split!r} is not one of {SPLITS}")
                ids.append(str(record["id"]))
                prompts.append(str(record["prompt"]))
                categories.append(str(record.get("category") or "uncategorised"))
                train.append(split == "train")
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{path}:{line}: {exc!r}") from None
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: prompt ids must be unique")
    return tuple(ids), tuple(prompts), tuple(categories), np.array(train, dtype=bool)


def _read_outcomes(
    path: Path, ids: tuple[str, ...], models: tuple[DatasetModel, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row_of = {prompt_id: i for i, prompt_id in enumerate(ids)}
    column_of = {m.name: j for j, m in enumerate(models)}
    shape = (len(ids), len(models))
    quality = np.full(shape, np.nan, dtype=np.float32)
    cost = np.full(shape, np.nan, dtype=np.float64)
    tokens = np.full(shape, np.nan, dtype=np.float64)
    for line, row in enumerate(_read_csv(path, ("id", "model", "quality", "cost_usd", "output_tokens")), start=2):
        i, j = row_of.get(row["id"]), column_of.get(row["model"])
        if i is None or j is None:
            raise DataError(f"{path}:{line}: unknown prompt id {row['id']!r} or model {row['model']!r}")
        try:
            value = float(row["quality"])
            cost_usd, output = _optional_float(row["cost_usd"]), _optional_float(row["output_tokens"])
        except ValueError as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise DataError(f"{path}:{line}: quality {value} is outside [0, 1]")
        quality[i, j] = value
        cost[i, j] = np.nan if cost_usd is None else cost_usd
        tokens[i, j] = np.nan if output is None else output
    return quality, cost, tokens


def _fill_costs(dataset: RoutingDataset) -> RoutingDataset:
    """The data README's rule: empty costs from prompt length and output tokens (the model's median if unknown)."""
    assert dataset.output_tokens is not None
    medians = median_output_tokens(dataset)
    tokens = np.where(np.isnan(dataset.output_tokens), medians[None, :], dataset.output_tokens)
    input_prices = np.array([m.input_usd_per_mtok for m in dataset.models], dtype=np.float64)
    output_prices = np.array([m.output_usd_per_mtok for m in dataset.models], dtype=np.float64)
    estimate = (dataset.prompt_tokens[:, None] * input_prices + tokens * output_prices) / TOKENS_PER_PRICE_UNIT
    return replace(dataset, cost=np.where(np.isnan(dataset.cost), estimate, dataset.cost))
