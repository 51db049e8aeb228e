"""Model descriptions: how a learned router places a model, including one it never saw in training.

A learned router predicts a (prompt, model) pair's quality from the prompt and from a few numbers that describe
the model, never from its name, so the same predictor serves the configured pool although no data set holds
those models. A description comes from one of two places:

- a data-set model (`describe_dataset_models`): its list prices and parameter count from the data set's
  `models.csv`, and as capability score its mean quality on the data set's TRAIN split;
- a configured model (`describe_config_model`): prices, context window, vision, thinking and tier from
  `config.yaml`, `quality_prior` as the capability score, and the parameter count, which config.yaml does not
  carry, from `model_registry.json` beside this file (null when the provider does not publish it).

`model_features.csv` beside this file is the table of what the routers see of each configured model. It is
generated from config.yaml and model_registry.json (`python -m optmod.routing.model_description --write`) and
a test checks that it agrees with them, so config.yaml stays the one source of prices and priors.

What the predictors use as numbers (`model_feature_matrix`): log input and output price, log parameter count
(missing when unknown; XGBoost routes missing values down a learned branch, the MLP gets a mask input) and the
capability score. Context window and vision are hard constraints applied before routing (the request's
candidates already fit), and no data set records thinking or tier, so those stay out of the learned features.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optmod.config import DEFAULT_CONFIG_PATH, ROUTING_DIR, ModelConfig, load_config

if TYPE_CHECKING:
    from optmod.training.data import RoutingDataset

MODEL_REGISTRY_PATH = ROUTING_DIR / "model_registry.json"
MODEL_FEATURES_PATH = ROUTING_DIR / "model_features.csv"

MODEL_FEATURE_NAMES = ("log_input_price", "log_output_price", "log_params_b", "capability")
# A free model's price is 0; the floor keeps its log finite and a little below the cheapest paid model.
PRICE_FLOOR_USD_PER_MTOK = 0.01
CSV_COLUMNS = (
    "name",
    "tier",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "params_b",
    "capability",
    "context_window",
    "supports_vision",
    "supports_thinking",
    *MODEL_FEATURE_NAMES,
)


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """What a learned router knows of a model: prices, size, a capability score in [0, 1], and limits."""

    name: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    capability: float
    params_b: float | None = None
    context_window: int | None = None
    supports_vision: bool | None = None
    supports_thinking: bool | None = None
    tier: int | None = None
    # Typical answer length in tokens when known (median on a data set's train split); None for configured models.
    typical_output_tokens: float | None = None


def _log_price(usd_per_mtok: float) -> float:
    return math.log10(max(usd_per_mtok, 0.0) + PRICE_FLOOR_USD_PER_MTOK)


def model_feature_row(model: ModelDescription) -> tuple[float, ...]:
    log_params = math.log10(model.params_b) if model.params_b and model.params_b > 0 else math.nan
    return (
        _log_price(model.input_usd_per_mtok),
        _log_price(model.output_usd_per_mtok),
        log_params,
        float(model.capability),
    )


def model_feature_matrix(models: Sequence[ModelDescription]) -> np.ndarray:
    """float32 (m, len(MODEL_FEATURE_NAMES)); NaN marks an unknown parameter count."""
    return np.array([model_feature_row(m) for m in models], dtype=np.float32).reshape(len(models), -1)


def describe_dataset_models(dataset: RoutingDataset) -> tuple[ModelDescription, ...]:
    """Descriptions of a data set's models, capability = mean quality on the TRAIN split (never test)."""
    train = dataset.split("train") if bool(np.any(dataset.is_train)) else dataset
    descriptions = []
    for column, model in enumerate(train.models):
        scores = train.quality[:, column]
        known = scores[~np.isnan(scores)]
        capability = float(known.mean()) if known.size else 0.5
        descriptions.append(
            ModelDescription(
                name=model.name,
                input_usd_per_mtok=model.input_usd_per_mtok,
                output_usd_per_mtok=model.output_usd_per_mtok,
                capability=capability,
                params_b=model.params_b,
            )
        )
    return tuple(descriptions)


def load_model_registry(path: Path = MODEL_REGISTRY_PATH) -> dict[str, dict[str, object]]:
    """What config.yaml does not say about configured models (their parameter counts), by model name."""
    data = json.loads(path.read_text(encoding="utf-8"))
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ValueError(f"{path}: 'models' must map model names to objects")
    return models


def describe_config_model(model: ModelConfig, registry: dict[str, dict[str, object]] | None = None) -> ModelDescription:
    extra = (registry or {}).get(model.name, {})
    params = extra.get("params_b")
    return ModelDescription(
        name=model.name,
        input_usd_per_mtok=model.input_usd_per_mtok,
        output_usd_per_mtok=model.output_usd_per_mtok,
        capability=model.quality_prior,
        params_b=float(params) if isinstance(params, int | float) else None,
        context_window=model.context_window,
        supports_vision=model.supports_vision,
        supports_thinking=model.supports_thinking,
        tier=model.tier,
    )


def _format_number(value: float | int | bool | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_model_features(models: Sequence[ModelConfig], registry: dict[str, dict[str, object]]) -> str:
    """model_features.csv's text for these configured models."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for config_model in models:
        model = describe_config_model(config_model, registry)
        fixed = (
            model.name,
            model.tier,
            model.input_usd_per_mtok,
            model.output_usd_per_mtok,
            model.params_b,
            model.capability,
            model.context_window,
            model.supports_vision,
            model.supports_thinking,
        )
        writer.writerow([_format_number(v) if not isinstance(v, str) else v for v in fixed + model_feature_row(model)])
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate model_features.csv from config.yaml")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--write", action="store_true", help="write the file (default: print it)")
    args = parser.parse_args(argv)
    text = render_model_features(load_config(args.config).models, load_model_registry())
    if args.write:
        MODEL_FEATURES_PATH.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
