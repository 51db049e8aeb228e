"""Loading routing data sets in the canonical format: parsing, cost filling, splits and selections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_routing_dataset

from optmod.training.data import DataError, RoutingDataset, load_dataset, median_output_tokens

SHARED_DATA = Path(__file__).parents[1].parent / "shared" / "data"

PROMPTS = [
    {"id": "p1", "prompt": "a" * 400, "category": "math/algebra", "split": "train"},
    {"id": "p2", "prompt": "b" * 800, "category": "math", "split": "train"},
    {"id": "p3", "prompt": "c" * 40, "category": "mathematics", "split": "test"},
    {"id": "p4", "prompt": "d" * 4, "category": "law/contracts", "split": "test"},
]
MODELS = [
    ("small", "1.0", "2.0", "7"),
    ("large", "10.0", "30.0", ""),
]
# (id, model, quality, cost_usd, output_tokens)
OUTCOMES = [
    ("p1", "small", "1.0", "", "100"),
    ("p1", "large", "1.0", "0.5", "50"),
    ("p2", "small", "0.0", "", ""),
    ("p2", "large", "1.0", "", "300"),
    ("p3", "small", "0.5", "", "20"),
    ("p4", "small", "0.0", "", "60"),
    ("p4", "large", "0.25", "", ""),
]


def write_dataset(folder: Path, outcomes: list[tuple[str, ...]] = OUTCOMES) -> Path:
    return write_routing_dataset(folder, PROMPTS, outcomes, [(*m, "note") for m in MODELS])


@pytest.fixture
def dataset(tmp_path: Path) -> RoutingDataset:
    return load_dataset(write_dataset(tmp_path / "tiny"))


def test_loads_rows_models_and_missing_outcomes(dataset: RoutingDataset) -> None:
    assert dataset.name == "tiny"
    assert dataset.ids == ("p1", "p2", "p3", "p4")
    assert dataset.model_names == ("small", "large")
    assert dataset.models[1].params_b is None and dataset.models[0].params_b == 7.0
    assert dataset.is_train.tolist() == [True, True, False, False]
    assert dataset.quality.dtype == np.float32
    assert dataset.quality[3, 1] == pytest.approx(0.25)
    assert np.isnan(dataset.quality[2, 1])  # p3 was never answered by "large"


def test_empty_costs_follow_the_data_readme_rule(dataset: RoutingDataset) -> None:
    # Given cost is kept as is.
    assert dataset.cost[0, 1] == pytest.approx(0.5)
    # p1/small: 400 chars -> 100 tokens at $1/M in, 100 output tokens at $2/M out.
    assert dataset.cost[0, 0] == pytest.approx((100 * 1.0 + 100 * 2.0) / 1e6)
    # p2/small has no output tokens: small's median over (100, 20, 60) is 60.
    assert dataset.cost[1, 0] == pytest.approx((200 * 1.0 + 60 * 2.0) / 1e6)
    # p4/large: 1 input token, large's median over (50, 300) is 175.
    assert dataset.cost[3, 1] == pytest.approx((1 * 10.0 + 175 * 30.0) / 1e6)


def test_median_output_tokens_per_model(dataset: RoutingDataset) -> None:
    assert median_output_tokens(dataset).tolist() == [60.0, 175.0]
    assert median_output_tokens(dataset.split("train")).tolist() == [100.0, 175.0]


def test_median_output_tokens_recovered_from_cost_when_counts_are_absent(dataset: RoutingDataset) -> None:
    from dataclasses import replace

    no_counts = replace(dataset.split("train"), output_tokens=None)
    # p1/small cost 300e-6: 100 in tokens at $1 leaves 200e-6 of output at $2/M = 100 tokens; p2/small 60.
    assert median_output_tokens(no_counts)[0] == pytest.approx(80.0)


def test_split_keeps_rows_aligned(dataset: RoutingDataset) -> None:
    test = dataset.split("test")
    assert test.ids == ("p3", "p4")
    assert test.prompts[1] == "dddd"
    assert test.quality[1, 0] == 0.0 and test.cost.shape == (2, 2)
    assert not test.is_train.any()
    with pytest.raises(ValueError, match="split"):
        dataset.split("dev")  # type: ignore[arg-type]


def test_select_models_keeps_prompts_with_every_outcome(dataset: RoutingDataset) -> None:
    both = dataset.select_models(["large", "small"])
    assert both.model_names == ("large", "small")
    assert both.ids == ("p1", "p2", "p4")
    assert both.quality[2].tolist() == [0.25, 0.0]
    only_small = dataset.select_models(["small"])
    assert len(only_small) == 4
    with pytest.raises(DataError, match="unknown models"):
        dataset.select_models(["medium"])


def test_without_models_keeps_every_prompt(dataset: RoutingDataset) -> None:
    rest = dataset.without_models(["small"])
    assert rest.model_names == ("large",)
    assert len(rest) == 4 and np.isnan(rest.quality[2, 0])
    with pytest.raises(DataError, match="unknown models"):
        dataset.without_models(["medium"])


def test_select_categories_matches_the_prefix_as_a_path(dataset: RoutingDataset) -> None:
    assert dataset.select_categories("math").ids == ("p1", "p2")  # not "mathematics"
    assert dataset.select_categories("law/contracts").ids == ("p4",)
    assert len(dataset.select_categories("physics")) == 0
    assert dataset.category_groups() == ("law", "math", "mathematics")


def test_validation_split_holds_out_train_prompts_only(tmp_path: Path) -> None:
    prompts = [
        {"id": f"q{i}", "prompt": f"question {i}", "category": "c", "split": "train" if i < 80 else "test"}
        for i in range(100)
    ]
    outcomes = [(f"q{i}", "small", "1.0", "", "10") for i in range(100)]
    full = load_dataset(write_routing_dataset(tmp_path / "many", prompts, outcomes, [(*MODELS[0], "note")]))
    held = full.validation_split(0.25, seed=3)
    assert set(held.ids) == {f"q{i}" for i in range(80)}  # the real test prompts are never read
    share = len(held.split("test")) / len(held)
    assert 0.1 < share < 0.4
    assert held.split("test").ids == full.validation_split(0.25, seed=3).split("test").ids
    assert held.split("test").ids != full.validation_split(0.25, seed=4).split("test").ids


def test_rejects_quality_outside_unit_interval(tmp_path: Path) -> None:
    bad = [*OUTCOMES[:-1], ("p4", "large", "1.5", "", "")]
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        load_dataset(write_dataset(tmp_path / "bad", bad))


def test_rejects_unknown_model_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown prompt id"):
        load_dataset(write_dataset(tmp_path / "bad", [*OUTCOMES, ("p1", "ghost", "1", "", "")]))
    with pytest.raises(DataError, match="missing data file"):
        load_dataset(tmp_path / "nowhere")


@pytest.mark.data
@pytest.mark.parametrize("name", ["mmlu-pro", "routellm"])
def test_real_dataset_loads(name: str) -> None:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here")
    dataset = load_dataset(folder)
    assert len(dataset) > 1000 and len(dataset.models) >= 2
    assert 0.7 < dataset.is_train.mean() < 0.9
    assert np.isfinite(dataset.cost).all() and (dataset.cost >= 0).all()
    answered = dataset.quality[~np.isnan(dataset.quality)]
    assert ((answered >= 0) & (answered <= 1)).all()
    assert len(dataset.split("train")) + len(dataset.split("test")) == len(dataset)
