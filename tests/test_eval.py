"""`optmod eval` end to end on a small synthetic data set, with a toy learned router and a fake encoder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import write_routing_dataset

from optmod.routing.base import ArtifactError
from optmod.routing.model_description import ModelDescription
from optmod.training import evaluate as evaluate_module
from optmod.training.commands import main as commands_main
from optmod.training.data import RoutingDataset
from optmod.training.evaluate import EvalRequest, Report, evaluate
from optmod.training.registry import TRAINERS, RouterTrainer
from optmod.training.report import render_markdown, write_report
from optmod.training.timing import timing_prompts

# Three models: "cheap" answers easy prompts, "mid" easy and medium, "dear" everything, at rising prices.
MODELS = [("cheap", 0.1, 0.1), ("mid", 1.0, 1.0), ("dear", 10.0, 10.0)]
SKILL = {"easy": 0, "medium": 1, "hard": 2}


def write_synthetic(folder: Path, count: int = 300, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    prompts, outcomes = [], []
    for i in range(count):
        level = ("easy", "medium", "hard")[i % 3]
        group = ("arith", "trivia")[rng.integers(0, 2)]
        split = "test" if rng.random() < 0.4 else "train"
        prompts.append(
            {"id": f"q{i}", "prompt": f"{level} question {i} " * 5, "category": f"{group}/x", "split": split}
        )
        for rank, (name, _, _) in enumerate(MODELS):
            # Mostly right when skilled enough, with some noise so nothing is trivially perfect.
            right = rank >= SKILL[level] if rng.random() > 0.1 else rng.random() < 0.5
            outcomes.append((f"q{i}", name, float(right), "", str(50 + 10 * rank)))
    return write_routing_dataset(folder, prompts, outcomes, [(name, i, o, "", "") for name, i, o in MODELS])


class WordEncoder:
    """A fake encoder: one dimension per difficulty word, so the toy router can read the level."""

    name = "words"
    dim = 3
    fingerprint = "words-v1"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[float(t.startswith(level)) for level in SKILL] for t in texts], dtype=np.float32)


class LevelPredictor:
    """Predicts a model's quality as the mean train quality of models of its capability on the prompt's level."""

    def __init__(self, table: dict[str, list[list[float]]]) -> None:
        self.table = {level: np.array(rows) for level, rows in table.items()}

    def predict_quality(
        self, embeddings: np.ndarray, prompts: Sequence[str], models: Sequence[ModelDescription]
    ) -> np.ndarray:
        levels = [list(SKILL)[int(np.argmax(row))] for row in embeddings]
        out = np.zeros((len(prompts), len(models)))
        for j, model in enumerate(models):
            for i, level in enumerate(levels):
                # The nearest-capability row: the toy generalises to models by their description only.
                rows = self.table[level]
                out[i, j] = rows[np.argmin(np.abs(rows[:, 0] - model.capability)), 1]
        return out


def train_level_router(train: RoutingDataset, encoder: object, out: Path, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    capability = np.nanmean(train.quality, axis=0)
    table = {}
    for level in SKILL:
        rows = np.array([p.startswith(level) for p in train.prompts])
        table[level] = [[float(c), float(np.nanmean(train.quality[rows, j]))] for j, c in enumerate(capability)]
    (out / "table.json").write_text(json.dumps({"table": table, "models": list(train.model_names)}))


def load_level_router(folder: Path) -> LevelPredictor:
    stored = json.loads((folder / "table.json").read_text())
    if "table" not in stored:
        raise ArtifactError(f"{folder} is not a level router")
    return LevelPredictor(stored["table"])


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []

    def train(train: RoutingDataset, encoder: object, out: Path, seed: int) -> None:
        seen.append(train.model_names)
        train_level_router(train, encoder, out, seed)

    monkeypatch.setitem(TRAINERS, "level", RouterTrainer("level", train, load_level_router))
    monkeypatch.setattr(evaluate_module, "load_encoder", lambda name: WordEncoder())
    return seen


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_synthetic(tmp_path / "synthetic")


def run(data: Path, tmp_path: Path, **overrides: object) -> Report:
    settings: dict[str, object] = {
        "data": data,
        "routers": ("level",),
        "encoders": ("words",),
        "timing_queries": 12,
        "cache_dir": tmp_path / "emb",
        "trained_dir": tmp_path / "trained",
    }
    settings.update(overrides)
    return evaluate(EvalRequest(**settings))  # type: ignore[arg-type]


def result(report: Report, name: str) -> dict[str, float | None]:
    return next(r.metrics for r in report.results if r.name == name)


def test_learned_router_beats_random_and_approaches_the_oracle(
    data: Path, tmp_path: Path, calls: list[tuple[str, ...]]
) -> None:
    report = run(data, tmp_path)
    router, random, blind, oracle = (result(report, n) for n in ("level[words]", "random", "no_routing", "oracle"))
    assert router["aiq"] is not None and random["aiq"] is not None and oracle["aiq"] is not None
    assert router["aiq"] > random["aiq"] + 0.05
    assert router["aiq"] <= oracle["aiq"] + 1e-9
    assert blind["aiq"] == pytest.approx(random["aiq"], abs=0.03)
    # Reaching 95% of "dear" costs the router far less than "dear" itself; blind mixing needs most of it.
    assert router["cost_ratio_at_95"] is not None and router["cost_ratio_at_95"] < 0.5
    assert blind["cost_ratio_at_95"] is not None and blind["cost_ratio_at_95"] > 0.8
    assert router["decision_ms_p50"] is not None and router["decision_ms_p50"] >= 0
    assert calls == [("cheap", "mid", "dear")]
    groups = next(r.groups for r in report.results if r.name == "level[words]")
    blind_groups = next(r.groups for r in report.results if r.name == "no_routing")
    assert set(groups) == {"arith", "trivia"}
    assert all(groups[g]["aiq"] > blind_groups[g]["aiq"] for g in groups)  # type: ignore[operator]
    assert "## AIQ per category group" in render_markdown(report)
    # The neighbours baseline reads the same level words: it routes as well as the toy router.
    knn = result(report, "knn50[words]")
    assert knn["aiq"] is not None and knn["aiq"] > random["aiq"] + 0.05


def test_two_model_pool_reports_gap_metrics_per_group(data: Path, tmp_path: Path, calls: list[tuple[str, ...]]) -> None:
    report = run(data, tmp_path, pool=("cheap", "dear"))
    assert report.frame.strong == 1 and report.frame.weak == 0
    router, random = result(report, "level[words]"), result(report, "random")
    # The toy router tells easy prompts (cheap is right) from the rest (only dear is right): it sends that
    # two thirds to "dear" first, so PGR climbs to 1 at a share of 2/3 and APGR is about 1/3 + 2/3 / 2.
    assert router["apgr"] is not None and router["apgr"] > 0.6
    assert random["apgr"] == pytest.approx(0.5, abs=0.12)
    assert router["cpt50"] is not None and router["cpt50"] < 0.42
    groups = next(r.groups for r in report.results if r.name == "level[words]")
    assert set(groups) == {"arith", "trivia"}
    assert all(g["apgr"] is not None and g["apgr"] > 0.55 for g in groups.values())


def test_trained_router_is_cached_and_leave_models_out_trains_without_the_pool(
    data: Path, tmp_path: Path, calls: list[tuple[str, ...]]
) -> None:
    run(data, tmp_path)
    run(data, tmp_path)
    assert len(calls) == 1
    run(data, tmp_path, retrain=True)
    assert len(calls) == 2
    for stale in (tmp_path / "trained").glob("*/table.json"):
        stale.write_text("{}")  # a cached artifact from an older format: retrained, not an error
    run(data, tmp_path)
    assert len(calls) == 3
    report = run(data, tmp_path, pool=("cheap", "dear"), leave_models_out=True)
    assert calls[-1] == ("mid",)
    assert report.leave_models_out


def test_a_change_in_any_routing_module_retrains(
    data: Path, tmp_path: Path, calls: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "package"
    (package / "routing").mkdir(parents=True)
    shape = package / "routing" / "prompt_shape.py"  # a feature module no trainer file names
    shape.write_text("WINDOW = 2048\n")
    (package / "ui").mkdir()
    monkeypatch.setattr(evaluate_module, "PACKAGE_DIR", package)
    run(data, tmp_path)
    (package / "ui" / "app.js").write_text("// not routing code")
    run(data, tmp_path)
    assert len(calls) == 1
    shape.write_text("WINDOW = 1024\n")
    run(data, tmp_path)
    assert len(calls) == 2


def test_validation_evaluates_on_held_out_train_prompts(
    data: Path, tmp_path: Path, calls: list[tuple[str, ...]]
) -> None:
    full = run(data, tmp_path)
    held = run(data, tmp_path, validation_share=0.3)
    # Train and validation together are the train split: the real test prompts take no part.
    assert held.train_prompts + held.test_prompts == full.train_prompts
    assert 0.15 * full.train_prompts < held.test_prompts < 0.45 * full.train_prompts
    assert held.settings["validation_share"] == 0.3
    assert len(calls) == 2  # trained again, on the smaller train part


def test_category_filter_and_report_files(data: Path, tmp_path: Path, calls: list[tuple[str, ...]]) -> None:
    report = run(data, tmp_path, category="arith")
    assert 0 < report.test_prompts < 150
    paths = write_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "quality_vs_cost.png"]
    stored = json.loads(paths[0].read_text())
    assert stored["category"] == "arith"
    assert {r["name"] for r in stored["results"]} >= {"level[words]", "oracle", "random", "no_routing", "dear"}
    assert paths[2].read_bytes()[:4] == b"\x89PNG"
    assert "| level[words] |" in render_markdown(report)


def test_eval_command_prints_the_summary(
    data: Path, tmp_path: Path, calls: list[tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = commands_main(
        [
            "eval",
            "--data",
            str(data),
            "--router",
            "level",
            "--encoder",
            "words",
            "--out",
            str(tmp_path / "cli"),
            "--timing-queries",
            "4",
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "level[words]" in printed and "oracle" in printed
    assert (tmp_path / "cli" / "report.md").is_file()
    assert any((tmp_path / "cache" / "trained").iterdir())


def test_timing_prompts_include_long_ones() -> None:
    sample = timing_prompts(["short prompt"] * 10, 40, seed=1)
    assert len(sample) == 40
    assert max(len(p) for p in sample) > 4_000 * 4 * 0.25
    assert sum(len(p) > 1_000 for p in sample) == 10


def test_knn_quality_averages_the_nearest_train_outcomes() -> None:
    from optmod.training.evaluate import knn_quality

    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    outcomes = np.array([[1.0, 0.0], [0.0, np.nan], [0.5, 1.0]])
    predicted = knn_quality(train, outcomes, np.array([[1.0, 0.0], [0.0, 1.0]]), k=2)
    np.testing.assert_allclose(predicted[0], [0.5, 0.0])  # the two x-like prompts; NaN skipped
    np.testing.assert_allclose(predicted[1], [0.25, 1.0])  # y and the nearer x-like one, whose NaN is skipped
