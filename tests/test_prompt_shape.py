"""Prompt-shape features: hand-made prompts, and a perf_router that needs them to tell prompts apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_learned_routers import FAST_PERF, WordEncoder

from optmod.routing.base import QUERY_HEAD_CHARS, QUERY_TAIL_CHARS, trim_query
from optmod.routing.model_description import describe_dataset_models
from optmod.routing.perf_router_inference import feature_names, pair_features
from optmod.routing.prompt_shape import SHAPE_FEATURE_NAMES, prompt_shape, shape_features
from optmod.training.data import DatasetModel, RoutingDataset
from optmod.training.train_perf_router import load_perf_router, train_perf_router


def shape_of(text: str) -> dict[str, float]:
    return dict(zip(SHAPE_FEATURE_NAMES, prompt_shape(text), strict=True))


def test_numbers_are_counted_with_their_repeats_and_thousands() -> None:
    text = "James runs 3 sprints 3 times a week. He runs 60 meters each, 1,250 meters in all."
    shape = shape_of(text)
    assert shape["shape_numbers"] == 4
    assert shape["shape_distinct_numbers"] == 3  # 3, 60 and 1250
    assert shape["shape_digit_share"] == pytest.approx(len("3" + "3" + "60" + "1250") / len(text))
    assert shape_of("No digits here at all.")["shape_numbers"] == 0


def test_words_sentences_and_questions() -> None:
    shape = shape_of("The cat sat.  The dog ran!\nDid the bird sing? It did")
    assert shape["shape_words"] == 12
    assert shape["shape_sentences"] == 3  # the last clause has no end mark
    assert shape["shape_questions"] == 1
    assert shape["shape_lines"] == 1
    assert shape["shape_words_per_sentence"] == 4
    assert shape["shape_mean_word_chars"] == pytest.approx(
        sum(map(len, "The cat sat. The dog ran! Did the bird sing? It did".split())) / 12
    )
    assert shape_of("One sentence that ends.")["shape_sentences"] == 1


def test_code_maths_and_units_stand_out_from_prose() -> None:
    code = "```python\ndef area(r):\n    return 3.14 * r ** 2;\n```\nFix the bug in {area}."
    prose = "Write a short poem about the sea at night, with the moon and the waves."
    maths = "Solve x^2 + 3x - 4 = 0 and compute 10% of $250."
    assert shape_of(code)["shape_code_marks"] >= 6 > shape_of(prose)["shape_code_marks"] == 0
    assert shape_of(maths)["shape_math_operators"] == 4 > shape_of(prose)["shape_math_operators"] == 0
    assert shape_of(maths)["shape_units"] == 2
    assert shape_of(prose)["shape_lines"] == 0 < shape_of(code)["shape_lines"]


def test_non_ascii_share() -> None:
    assert shape_of("plain ascii")["shape_non_ascii_share"] == 0
    assert shape_of("日本語のテキスト")["shape_non_ascii_share"] > 0.5
    assert 0 < shape_of("café au lait")["shape_non_ascii_share"] < 0.1


def test_empty_and_blank_prompts_give_zeros_without_errors() -> None:
    for text in ("", "   \n "):
        values = prompt_shape(text)
        assert len(values) == len(SHAPE_FEATURE_NAMES)
        assert all(np.isfinite(values)) and values[0] == 0
    assert shape_features([]).shape == (0, len(SHAPE_FEATURE_NAMES))


def test_only_the_head_and_tail_of_a_long_prompt_are_read() -> None:
    middle = " ".join(str(i) for i in range(5000))
    long_prompt = "a " * QUERY_HEAD_CHARS + middle + " b" * QUERY_TAIL_CHARS
    assert shape_of(long_prompt)["shape_numbers"] == 0  # the numbers sit in the unread middle
    assert prompt_shape(long_prompt) == prompt_shape(trim_query(long_prompt))
    # The router embeds the same window: trimming it again changes nothing, so training and serving agree.
    assert trim_query(trim_query(long_prompt)) == trim_query(long_prompt)


def test_shape_features_is_prompt_shape_row_by_row() -> None:
    texts = ["What is 2 + 2?", "def f(): return 1;", "Hello there."]
    matrix = shape_features(texts)
    assert matrix.dtype == np.float32 and matrix.shape == (3, len(SHAPE_FEATURE_NAMES))
    np.testing.assert_allclose(matrix[1], prompt_shape(texts[1]), rtol=1e-6)


# perf_router with shape features: prompts the encoder cannot tell apart, which only their numbers separate.


def counting_dataset(n: int = 360, seed: int = 0) -> RoutingDataset:
    """'Add up these numbers' prompts: the weak model fails when there are many. The word encoder ignores digits,
    and padding gives both kinds the same length, so only the shape features can see the difference."""
    rng = np.random.default_rng(seed)
    many = rng.random(n) < 0.5
    prompts = []
    for lots in many:
        numbers = ", ".join(str(v) for v in rng.integers(10, 99, size=9 if lots else 2))
        prompts.append(f"Add up these numbers: {numbers}.".ljust(60))
    models = (DatasetModel("weak", 0.1, 0.1, 7.0), DatasetModel("strong", 5.0, 15.0, None))
    success = np.where(many[:, None], [[0.1, 0.95]], [[0.95, 0.95]])
    quality = (rng.random((n, 2)) < success).astype(np.float32)
    return RoutingDataset(
        name="counting",
        ids=tuple(f"c{i}" for i in range(n)),
        prompts=tuple(prompts),
        categories=("sums",) * n,
        is_train=np.arange(n) < int(0.75 * n),
        models=models,
        quality=quality,
        cost=np.tile([1e-5, 1e-3], (n, 1)),
    )


@pytest.mark.parametrize("with_shape", [True, False])
def test_perf_router_sees_what_only_the_shape_tells(tmp_path: Path, with_shape: bool) -> None:
    data = counting_dataset()
    train, test, encoder = data.split("train"), data.split("test"), WordEncoder()
    params = replace(FAST_PERF, mlp_weight=0.0, shape_features=with_shape)
    train_perf_router(train, encoder, tmp_path, 0, params, encoder.encode(train.prompts))
    predictor = load_perf_router(tmp_path)
    assert predictor.parts.shape_features is with_shape
    assert ("shape_numbers" in feature_names(predictor.parts)) is with_shape
    quality = predictor.predict_quality(encoder.encode(test.prompts), test.prompts, describe_dataset_models(data))
    gain = quality[:, 1] - quality[:, 0]
    hard = shape_features(test.prompts)[:, 0] > 2
    if with_shape:
        # Upgrading the prompts with the largest predicted gain picks out the many-number ones.
        upgraded = np.argsort(-gain)[: int(hard.sum())]
        assert hard[upgraded].mean() > 0.9
    else:
        # The control: without the shape, the prompts look alike to the router and get one prediction.
        assert np.ptp(gain) < 1e-6


def test_a_shape_artifact_refuses_rows_without_shapes(tmp_path: Path) -> None:
    data = counting_dataset(120)
    train, encoder = data.split("train"), WordEncoder()
    params = replace(FAST_PERF, mlp_weight=0.0, shape_features=True, rounds=5)
    train_perf_router(train, encoder, tmp_path, 0, params, encoder.encode(train.prompts))
    parts = load_perf_router(tmp_path).parts
    embeddings = encoder.encode(train.prompts[:3])
    models = describe_dataset_models(data)
    with pytest.raises(ValueError, match="shape"):
        pair_features(parts, embeddings, np.full(3, 60.0), models)
    rows = pair_features(parts, embeddings, np.full(3, 60.0), models, shapes=shape_features(train.prompts[:3]))
    assert rows.shape == (3 * len(models), len(feature_names(parts)))
