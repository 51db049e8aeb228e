"""The learned routers (perf_router, trouter, decision_tree) trained on small synthetic data.

The data: easy prompts (short look-up questions) that every model answers, hard prompts (proofs and
derivations) that only the strong models answer. A bag-of-words encoder stands in for the sentence encoder,
so these tests need neither torch nor downloaded weights.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from optmod.config import RoutersSettings, load_config
from optmod.features import extract_features
from optmod.registry import ModelRegistry
from optmod.routing import ROUTERS, ArtifactError, RouteRequest, build_router
from optmod.routing import decision_tree as decision_tree_module
from optmod.routing import perf_router as perf_router_module
from optmod.routing import trouter as trouter_module
from optmod.routing.base import ModelScore
from optmod.routing.model_description import (
    MODEL_FEATURES_PATH,
    ModelDescription,
    describe_dataset_models,
    load_model_registry,
    render_model_features,
)
from optmod.routing.perf_router import QueryEmbeddings
from optmod.routing.perf_router_inference import PerfRouterPredictor, category_mix
from optmod.training.data import DatasetModel, RoutingDataset
from optmod.training.registry import TRAINERS
from optmod.training.train_decision_tree import train_decision_tree
from optmod.training.train_perf_router import (
    PerfRouterHyperParameters,
    fit_categories,
    load_perf_router,
    train_perf_router,
)
from optmod.training.train_trouter import TRouterHyperParameters, train_trouter

EASY_TOPICS = ("capital", "colour", "author", "river", "mountain", "language", "currency", "holiday")
HARD_TOPICS = ("prove", "derive", "integral", "eigenvalue", "theorem", "recursion", "asymptotic", "lemma")
FAST_TROUTER = TRouterHyperParameters(hidden=(32,), epochs=30, batch=64)
FAST_PERF = PerfRouterHyperParameters(knn_dims=16, pca_features=8, k=10, rounds=60, threads=1, mlp=FAST_TROUTER)


class WordEncoder:
    """Hashed bag of words, L2-normalised: similar words give similar vectors, like a sentence encoder would."""

    name = "words"
    dim = 64
    fingerprint = "words-1"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def make_prompt(rng: np.random.Generator, hard: bool) -> str:
    topics = HARD_TOPICS if hard else EASY_TOPICS
    words = rng.choice(topics, size=3)
    if hard:
        return f"Please {words[0]} the {words[1]} and the {words[2]} rigorously, step by step."
    return f"What is the {words[0]} of the {words[1]}? Quick {words[2]} question."


def make_dataset(n: int = 400, seed: int = 0) -> RoutingDataset:
    """Three models: weak and cheap, middling, strong and expensive. Half the prompts are hard."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.5
    prompts = tuple(make_prompt(rng, bool(h)) for h in hard)
    models = (
        DatasetModel("weak", 0.1, 0.1, 7.0),
        DatasetModel("middle", 0.5, 0.5, 40.0),
        DatasetModel("strong", 5.0, 15.0, None),
    )
    success = np.where(hard[:, None], [[0.1, 0.4, 0.9]], [[0.9, 0.93, 0.95]])
    quality = (rng.random((n, 3)) < success).astype(np.float32)
    tokens = np.array([len(p) / 4 for p in prompts])
    prices_in = np.array([m.input_usd_per_mtok for m in models])
    prices_out = np.array([m.output_usd_per_mtok for m in models])
    cost = (tokens[:, None] * prices_in + 200 * prices_out) / 1e6
    return RoutingDataset(
        name="synthetic",
        ids=tuple(f"p{i}" for i in range(n)),
        prompts=prompts,
        categories=tuple("hard" if h else "easy" for h in hard),
        is_train=np.arange(n) < int(0.75 * n),
        models=models,
        quality=quality,
        cost=cost,
    )


@pytest.fixture(scope="module")
def dataset() -> RoutingDataset:
    return make_dataset()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: RoutingDataset) -> dict[str, Path]:
    """Each router trained once on the train split, in its own folder."""
    root = tmp_path_factory.mktemp("artifacts")
    train, encoder = dataset.split("train"), WordEncoder()
    folders = {name: root / name for name in ("perf_router", "trouter", "decision_tree")}
    embeddings = encoder.encode(train.prompts)
    train_perf_router(train, encoder, folders["perf_router"], 0, FAST_PERF, embeddings)
    train_trouter(train, encoder, folders["trouter"], 0, FAST_TROUTER, embeddings)
    train_decision_tree(train, encoder, folders["decision_tree"], 0)
    return folders


def predicted(name: str, folder: Path, data: RoutingDataset, models: Sequence[ModelDescription]) -> np.ndarray:
    predictor = TRAINERS[name].load(folder)
    return predictor.predict_quality(WordEncoder().encode(data.prompts), data.prompts, models)


@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_router_beats_random_at_matched_cost(name: str, trained: dict[str, Path], dataset: RoutingDataset) -> None:
    test = dataset.split("test")
    models = describe_dataset_models(dataset)
    quality = predicted(name, trained[name], test, models)
    # A knob setting that buys the strong model only where it is predicted to matter.
    cost = test.cost / test.cost.max(axis=1, keepdims=True)
    picks = np.argmax(quality - 0.3 * cost, axis=1)
    rows = np.arange(len(test))
    routed = float(test.quality[rows, picks].mean())
    shares = np.bincount(picks, minlength=3) / len(picks)
    random_same_mix = float(shares @ test.quality.mean(axis=0))
    assert 0 < shares[2] < 1, f"{name} should mix models, got shares {shares}"
    assert routed > random_same_mix + 0.05


@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_router_ranks_easy_and_hard_prompts(name: str, trained: dict[str, Path], dataset: RoutingDataset) -> None:
    models = describe_dataset_models(dataset)
    easy = "What is the capital of the river? Quick currency question."
    hard = "Please prove the theorem and the integral rigorously, step by step."
    probe = replace(dataset.subset(np.array([0, 1])), prompts=(easy, hard))
    quality = predicted(name, trained[name], probe, models)
    weak, strong = 0, 2
    assert quality[0, weak] > quality[1, weak] + 0.3, "the weak model should do far better on the easy prompt"
    assert quality[1, strong] > quality[1, weak] + 0.3, "on the hard prompt the strong model should be predicted ahead"


def test_unseen_model_is_placed_by_its_description(trained: dict[str, Path], dataset: RoutingDataset) -> None:
    """A model no data set holds, described like the strong one, is predicted to do well on hard prompts."""
    hard = replace(dataset.subset(np.array([0])), prompts=("Please derive the eigenvalue and the lemma rigorously.",))
    models = describe_dataset_models(dataset)
    newcomer = replace(models[2], name="never-seen", capability=models[2].capability)
    quality = predicted("perf_router", trained["perf_router"], hard, [models[0], newcomer])
    assert quality[0, 1] > quality[0, 0] + 0.2


def test_training_is_deterministic(tmp_path: Path, dataset: RoutingDataset) -> None:
    train, encoder = dataset.split("train"), WordEncoder()
    embeddings = encoder.encode(train.prompts)
    for run in ("a", "b"):
        train_perf_router(train, encoder, tmp_path / run / "perf", 3, FAST_PERF, embeddings)
        train_decision_tree(train, encoder, tmp_path / run / "tree", 3)
    for relative in ("perf/arrays.npz", "perf/meta.json", "tree/routing_policy.pkl"):
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative


# The routers as the proxy builds them: artifacts from the tests' training, the configured pool as candidates.


@pytest.fixture
def config_settings(trained: dict[str, Path]) -> tuple[RoutersSettings, ModelRegistry]:
    config = load_config()
    routers = config.routers.model_copy(
        update={
            "perf_router": config.routers.perf_router.model_copy(
                update={"artifact_dir": str(trained["perf_router"]), "perf_router_min_similarity": -1.0}
            ),
            "trouter": config.routers.trouter.model_copy(update={"artifact": str(trained["trouter"])}),
            "decision_tree": config.routers.decision_tree.model_copy(
                update={"artifact": str(trained["decision_tree"] / "routing_policy.pkl")}
            ),
        }
    )
    return routers, ModelRegistry(config.models, config.primary_model)


@pytest.fixture
def word_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf_router_module, "load_router_encoder", lambda name: WordEncoder())
    monkeypatch.setattr(trouter_module, "load_router_encoder", lambda name: WordEncoder())


def route_request(prompt: str, registry: ModelRegistry) -> RouteRequest:
    body = {"messages": [{"role": "user", "content": prompt}]}
    return RouteRequest(features=extract_features(body), candidates=registry.models)


@pytest.mark.usefixtures("word_encoder")
@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_router_routes_the_configured_pool(name: str, config_settings: tuple[RoutersSettings, ModelRegistry]) -> None:
    settings, registry = config_settings
    active = build_router(name, settings, registry)
    assert active.fallback_reason is None
    decision = active.router.route(route_request("Please prove the theorem rigorously, step by step.", registry))
    assert decision.model in registry
    assert decision.reason.startswith(name)
    assert 0.0 <= decision.confidence <= 1.0
    assert {s.model for s in decision.scores} == {m.name for m in registry.models}
    assert all(0.0 <= s.quality <= 1.0 and s.cost >= 0 for s in decision.scores)


@pytest.mark.usefixtures("word_encoder")
def test_perf_router_cost_weight_moves_the_pick(config_settings: tuple[RoutersSettings, ModelRegistry]) -> None:
    settings, registry = config_settings
    request = route_request("Please derive the asymptotic recursion and the lemma step by step.", registry)

    def pick(**knobs: object) -> str:
        own = settings.perf_router.model_copy(update=knobs)
        router = ROUTERS["perf_router"](settings.model_copy(update={"perf_router": own}), registry)
        return router.route(request).model

    free = pick(perf_router_cost_weight=0.0, perf_router_degradation_threshold=0.0)
    frugal = pick(perf_router_cost_weight=100.0, perf_router_degradation_threshold=1.0)
    costs = {s.model: s.cost for s in ROUTERS["perf_router"](settings, registry).route(request).scores}
    assert costs[frugal] == min(costs.values())
    assert costs[free] > costs[frugal]


@pytest.mark.usefixtures("word_encoder")
def test_perf_router_baseline_bounds_the_loss(config_settings: tuple[RoutersSettings, ModelRegistry]) -> None:
    settings, registry = config_settings
    request = route_request("Please prove the eigenvalue theorem rigorously.", registry)
    baseline = "anthropic/claude-sonnet-4.6"
    own = settings.perf_router.model_copy(
        update={
            "perf_router_baseline": baseline,
            "perf_router_degradation_threshold": 0.0,
            "perf_router_cost_weight": 100.0,
        }
    )
    decision = ROUTERS["perf_router"](settings.model_copy(update={"perf_router": own}), registry).route(request)
    quality = {s.model: s.quality for s in decision.scores}
    assert quality[decision.model] >= quality[baseline]


@pytest.mark.usefixtures("word_encoder")
def test_perf_router_leaves_an_unfamiliar_prompt_to_rule_based(
    config_settings: tuple[RoutersSettings, ModelRegistry],
) -> None:
    settings, registry = config_settings
    own = settings.perf_router.model_copy(update={"perf_router_min_similarity": 1.01, "perf_router_cost_weight": 0.0})
    router = ROUTERS["perf_router"](settings.model_copy(update={"perf_router": own}), registry)
    request = route_request("zzz qqq", registry)
    decision = router.route(request)
    by_rules = ROUTERS["rule_based"](settings, registry).route(request)
    assert decision.model == by_rules.model
    assert "unfamiliar prompt" in decision.reason and decision.reason.endswith(by_rules.reason)
    assert decision.confidence == round(by_rules.confidence / 2, 3)
    # The capability priors alone would have picked the strongest model for a line of noise.
    assert decision.model != max(registry.models, key=lambda m: m.quality_prior).name


# Artifacts: round trip, and a missing or corrupt one makes the app fall back to rule_based.


@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_artifact_round_trip_predicts_the_same(name: str, trained: dict[str, Path], dataset: RoutingDataset) -> None:
    models = describe_dataset_models(dataset)
    first = predicted(name, trained[name], dataset, models)
    second = predicted(name, trained[name], dataset, models)
    assert first.shape == (len(dataset), 3)
    np.testing.assert_array_equal(first, second)


def corrupt(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00not an artifact")


@pytest.mark.usefixtures("word_encoder")
@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_broken_artifact_falls_back_to_rule_based(
    name: str,
    damage: str,
    tmp_path: Path,
    trained: dict[str, Path],
    config_settings: tuple[RoutersSettings, ModelRegistry],
) -> None:
    settings, registry = config_settings
    folder = tmp_path / name
    if damage == "corrupt":
        import shutil

        shutil.copytree(trained[name], folder)
        corrupt(folder)
    broken = {
        "perf_router": settings.perf_router.model_copy(update={"artifact_dir": str(folder)}),
        "trouter": settings.trouter.model_copy(update={"artifact": str(folder)}),
        "decision_tree": settings.decision_tree.model_copy(update={"artifact": str(folder / "routing_policy.pkl")}),
    }[name]
    active = build_router(name, settings.model_copy(update={name: broken}), registry)
    assert active.router.name == "rule_based"
    assert active.fallback_reason and name in active.fallback_reason


def test_policy_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routing_policy.pkl"
    path.write_bytes(pickle.dumps({"format_version": 999}))
    with pytest.raises(ArtifactError):
        decision_tree_module.load_policy(path)


@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_every_learned_router_builds_from_config_yaml(name: str) -> None:
    """With the committed artifacts, or (before they exist) as a clean fallback: never an exception."""
    config = load_config()
    active = build_router(name, config.routers, ModelRegistry(config.models, config.primary_model))
    assert active.requested == name
    assert active.router.name in (name, "rule_based")


class OtherWordEncoder(WordEncoder):
    fingerprint = "words-2"


@pytest.mark.parametrize("name", ["perf_router", "trouter"])
def test_artifact_of_another_encoder_falls_back(
    name: str, monkeypatch: pytest.MonkeyPatch, config_settings: tuple[RoutersSettings, ModelRegistry]
) -> None:
    """A changed encoder puts prompts elsewhere in its space: the stale artifact must not route."""
    monkeypatch.setattr(perf_router_module, "load_router_encoder", lambda name: OtherWordEncoder())
    monkeypatch.setattr(trouter_module, "load_router_encoder", lambda name: OtherWordEncoder())
    settings, registry = config_settings
    active = build_router(name, settings, registry)
    assert active.router.name == "rule_based"
    assert active.fallback_reason and "retrain" in active.fallback_reason


# Configured-model descriptions and the committed artifacts on the real data (skipped where ../shared/data is absent).

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_model_features_csv_agrees_with_config_yaml() -> None:
    """model_features.csv is generated from config.yaml: a price or prior changed in one place shows here."""
    expected = render_model_features(load_config().models, load_model_registry())
    assert MODEL_FEATURES_PATH.read_text(encoding="utf-8") == expected, (
        "regenerate it: python -m optmod.routing.model_description --write"
    )


def test_model_registry_covers_the_configured_pool() -> None:
    assert set(load_model_registry()) == {m.name for m in load_config().models}


@pytest.mark.data
@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_committed_artifact_beats_no_routing_on_real_test_data(name: str) -> None:
    from optmod.encoders import EncoderError, load_encoder
    from optmod.training.data import expected_costs, load_dataset, median_output_tokens
    from optmod.training.metrics import aiq, build_hull
    from optmod.training.registry import TRAINERS
    from optmod.training.sweep import OutcomeTable, alpha_sweep

    trainer = TRAINERS[name]
    meta_path = trainer.artifact_dir / "meta.json"
    dataset_name = json.loads(meta_path.read_text())["dataset"] if meta_path.is_file() else "mmlu-pro"
    folder = SHARED_DATA / dataset_name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    try:
        encoder = load_encoder("static")
    except EncoderError as exc:
        pytest.skip(str(exc))
    full = load_dataset(folder)
    test = full.select_models(full.model_names).split("test")  # prompts every model answered
    models = describe_dataset_models(full)
    medians = median_output_tokens(full.split("train"))
    table = OutcomeTable(test.quality.astype(np.float64), test.cost, expected_costs(test, medians), ())
    predicted = trainer.load(trainer.artifact_dir).predict_quality(encoder.encode(test.prompts), test.prompts, models)
    costs, qualities = table.single_costs, table.single_qualities
    no_routing = aiq(build_hull(costs, qualities), costs.min(), costs.max())
    points = alpha_sweep(table, predicted)
    routed = aiq(build_hull([p.cost for p in points], [p.quality for p in points]), costs.min(), costs.max())
    # On the whole pool (29 models on mmlu-pro, many on the single-model frontier) perf_router must beat the best
    # prompt-blind mix; the others must at least match it (a broken predictor falls far below).
    margin = 0.0 if name == "perf_router" else -0.01
    assert routed > no_routing + margin, f"{name}: AIQ {routed:.4f} vs {no_routing:.4f} without routing"


def test_category_mix_learns_which_model_wins_in_which_category(dataset: RoutingDataset) -> None:
    """The synthetic data's categories are `easy` and `hard`: the weak model's mean collapses on hard prompts."""
    train, test = dataset.split("train"), dataset.split("test")
    encoder = WordEncoder()
    params = replace(FAST_PERF, min_category_prompts=5)
    mixed = category_mix(
        fit_categories(encoder.encode(train.prompts), train.categories, train.quality, params),
        encoder.encode(test.prompts),
    )
    hard = np.array([c == "hard" for c in test.categories])
    weak, strong = 0, 2
    assert mixed[~hard, weak].mean() > 0.8 and mixed[hard, weak].mean() < 0.25
    assert mixed[hard, strong].mean() > 0.8
    # The mixture is an average of per-category means: it stays within the range of the training outcomes.
    assert np.all((mixed >= 0.0) & (mixed <= 1.0))


def test_category_mix_with_one_category_or_rare_ones_gives_the_overall_means(dataset: RoutingDataset) -> None:
    train = dataset.split("train")
    embeddings = WordEncoder().encode(train.prompts)
    overall = np.nanmean(train.quality, axis=0)
    single = fit_categories(embeddings, ["all"] * len(train), train.quality, FAST_PERF)
    assert single.weights.shape == (embeddings.shape[1] + 1, 1)
    np.testing.assert_allclose(category_mix(single, embeddings[:5]), np.tile(overall, (5, 1)), atol=1e-6)
    # Every category below the minimum count: they are pooled into one class, with the same result.
    rare = fit_categories(embeddings, [f"c{i}" for i in range(len(train))], train.quality, FAST_PERF)
    np.testing.assert_allclose(category_mix(rare, embeddings[:5]), np.tile(overall, (5, 1)), atol=1e-6)


def test_perf_router_averages_its_booster_and_network(trained: dict[str, Path], dataset: RoutingDataset) -> None:
    predictor = load_perf_router(trained["perf_router"])
    assert predictor.mlp is not None and predictor.mlp_weight == FAST_PERF.mlp_weight
    test = dataset.split("test")
    embeddings = WordEncoder().encode(test.prompts)
    models = describe_dataset_models(dataset)
    alone = PerfRouterPredictor(predictor.parts, predictor.trees, predictor.meta)
    booster = alone.predict_quality(embeddings, test.prompts, models)
    network = predictor.mlp.predict_quality(embeddings, test.prompts, models)
    assert not np.allclose(booster, network)
    weight = predictor.mlp_weight
    np.testing.assert_allclose(
        predictor.predict_quality(embeddings, test.prompts, models),
        (1 - weight) * booster + weight * network,
        atol=1e-6,
    )


def test_perf_router_without_network_writes_none(tmp_path: Path, dataset: RoutingDataset) -> None:
    train, encoder = dataset.split("train"), WordEncoder()
    train_perf_router(train, encoder, tmp_path, 0, replace(FAST_PERF, mlp_weight=0.0), encoder.encode(train.prompts))
    assert not (tmp_path / "mlp").exists()
    assert load_perf_router(tmp_path).mlp is None


def test_perf_router_with_a_broken_network_is_refused(tmp_path: Path, trained: dict[str, Path]) -> None:
    import shutil

    shutil.copytree(trained["perf_router"], tmp_path / "perf")
    corrupt(tmp_path / "perf" / "mlp")
    with pytest.raises(ArtifactError, match="trouter artifact"):
        load_perf_router(tmp_path / "perf")


def test_perf_router_trained_on_other_features_is_refused(tmp_path: Path, trained: dict[str, Path]) -> None:
    import shutil

    shutil.copytree(trained["perf_router"], tmp_path / "perf")
    meta_path = tmp_path / "perf" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["feature_names"] = meta["feature_names"][:-1]  # the trees' columns no longer line up with the table
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="other features"):
        load_perf_router(tmp_path / "perf")


def test_trouter_numpy_forward_matches_the_torch_checkpoint(trained: dict[str, Path], dataset: RoutingDataset) -> None:
    torch = pytest.importorskip("torch")
    from optmod.routing.trouter import forward, load_trouter, model_inputs
    from optmod.training.train_trouter import build_network

    folder = trained["trouter"]
    predictor = load_trouter(folder)
    models = describe_dataset_models(dataset)
    embeddings = WordEncoder().encode(dataset.prompts[:20])
    described = model_inputs(models, predictor.weights)
    network = build_network(torch, embeddings.shape[1] + described.shape[1], FAST_TROUTER)
    network.load_state_dict(torch.load(folder / "trouter_weights.pt"))
    network.eval()
    pairs = np.concatenate([np.repeat(embeddings, len(models), axis=0), np.tile(described, (len(embeddings), 1))], 1)
    with torch.no_grad():
        logits = network(torch.from_numpy(pairs.astype(np.float32))).numpy().reshape(len(embeddings), len(models))
    np.testing.assert_allclose(forward(predictor.weights, embeddings, models), 1 / (1 + np.exp(-logits)), atol=1e-5)


def test_reason_says_free_rather_than_zero_percent() -> None:
    scores = (
        ModelScore(model="free-model", quality=0.79, cost=0.0, score=0.79),
        ModelScore(model="dear-model", quality=0.88, cost=0.01, score=-2.1),
    )
    text = perf_router_module.compare_text(perf_router_module.Choice(0, scores, 1.0), 0)
    assert text.endswith(", free") and "0%" not in text
    both_free = tuple(replace(s, cost=0.0) for s in scores)
    assert perf_router_module.compare_text(perf_router_module.Choice(0, both_free, 1.0), 0).endswith("both free")
    assert "at 50% of its cost" in perf_router_module.compare_text(
        perf_router_module.Choice(0, (replace(scores[0], cost=0.005), scores[1]), 1.0), 0
    )


def test_query_embeddings_are_remembered_read_only_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    class CountingEncoder(WordEncoder):
        calls = 0

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            self.calls += len(texts)
            return super().encode(texts)

    encoder = CountingEncoder()
    queries = QueryEmbeddings(encoder)
    first = queries.embed("prove the lemma")
    np.testing.assert_array_equal(first, encoder.encode(["prove the lemma"]))
    assert queries.embed("prove the lemma") is first and encoder.calls == 2  # the second embed was remembered
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 1.0
    monkeypatch.setattr(perf_router_module, "QUERY_CACHE_SIZE", 2)
    queries.embed("a b")
    queries.embed("c d")  # full: emptied first, so memory stays bounded
    assert len(queries._known) == 1
    queries.forget()
    queries.embed("prove the lemma")
    assert encoder.calls == 5


@pytest.mark.data
@pytest.mark.parametrize("name", ["perf_router", "trouter", "decision_tree"])
def test_optmod_train_reproduces_the_committed_artifact(name: str, tmp_path: Path) -> None:
    """The committed artifacts are the project's own output: `optmod train` on ../shared/data gives them back
    byte for byte (a change to training that is not followed by a retrain fails here)."""
    from optmod.training.commands import main

    pytest.importorskip("xgboost")
    pytest.importorskip("torch")
    committed = TRAINERS[name].artifact_dir
    meta_path = committed / "meta.json"
    dataset_name = json.loads(meta_path.read_text())["dataset"] if meta_path.is_file() else "mmlu-pro"
    folder = SHARED_DATA / dataset_name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    assert main(["train", "--data", str(folder), "--router", name, "--out", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written
    if committed.name == name:  # a folder of its own: a committed file training no longer writes is stale
        assert written == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (committed / relative).read_bytes(), relative


def test_alternatives_put_eligible_candidates_first_and_flag_the_filtered_ones() -> None:
    from optmod.routing.base import Decision
    from optmod.routing.perf_router import choose

    # "dear" scores best but the degradation filter ruled it out; "mid" and "cheap" were weighed.
    names = ["cheap", "mid", "dear", "worst"]
    choice = choose(
        names,
        quality=np.array([0.70, 0.72, 0.95, 0.10]),
        costs=np.array([1.0, 2.0, 1.0, 1.0]),
        cost_weight=0.1,
        eligible=np.array([True, True, False, True]),
    )
    decision = Decision(model=names[choice.index], reason="", confidence=1.0, scores=choice.scores)
    assert decision.model == "cheap"
    listed = [(s.model, s.eligible) for s in decision.alternatives()]
    assert listed == [("mid", True), ("worst", True), ("dear", False)]
