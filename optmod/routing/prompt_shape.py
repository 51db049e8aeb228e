"""Prompt-shape features: what a prompt's surface says that a bag-of-tokens embedding cannot see.

The static encoder averages token vectors, so it is blind to how many numbers a prompt holds, how long its
sentences run, or whether it is laid out as code. `shape_features(texts)` measures that from the text alone.
It runs on the request hot path, so it works on the UTF-8 bytes with C-speed primitives only (`bytes.translate`,
`bytes.count`, `bytes.split`): no per-character Python loop and no regular expression, about 20 us for 2 KB.

Only a bounded window is read: `routing.base.trim_query`'s head and tail, the same window perf_router embeds,
so the cost is bounded and a long prompt gets the same figures at training and serving.
Nothing here knows any data set: the features are generic counts and shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optmod.routing.base import trim_query

_WHITESPACE = b" \t\n\r\f\v"
_SENTENCE_ENDS = b".?!"
# Digits kept, everything else a space: the digit runs are then `split()` away. Commas are deleted first, so
# "1,250" is one number; a decimal point splits "2.5" into two runs, which counts the digits all the same.
_DIGITS_ONLY = bytes(c if chr(c).isdigit() and c < 128 else ord(" ") for c in range(256))
# Whitespace -> " ", sentence ends -> ".", anything else -> "a": a word starts at " a", a sentence ends at ". ".
_LAYOUT = bytes(ord(" ") if c in _WHITESPACE else ord(".") if c in _SENTENCE_ENDS else ord("a") for c in range(256))
_MATH_OPERATORS = b"+-*/^=<>"
_CODE_PUNCTUATION = b"{}[];`\\|"
_UNIT_MARKS = b"$%"
_CODE_PHRASES = (b"```", b"def ", b";\n", b"()", b"return ")

SHAPE_FEATURE_NAMES = (
    "shape_numbers",
    "shape_distinct_numbers",
    "shape_digit_share",
    "shape_words",
    "shape_mean_word_chars",
    "shape_sentences",
    "shape_words_per_sentence",
    "shape_questions",
    "shape_lines",
    "shape_non_ascii_share",
    "shape_code_marks",
    "shape_math_operators",
    "shape_units",
)


def count_deleted(data: bytes, marks: bytes) -> int:
    """How many bytes of `data` are among `marks` (one C pass, however many marks)."""
    return len(data) - len(data.translate(None, marks))


def prompt_shape(text: str) -> tuple[float, ...]:
    """The features of `SHAPE_FEATURE_NAMES` for one prompt, in that order (counts over the read window)."""
    window = trim_query(text)
    data = window.encode("utf-8")
    size = max(len(data), 1)
    numbers = data.translate(_DIGITS_ONLY, b",").split()
    layout = b" " + data.translate(_LAYOUT) + b" "  # padded: the first word starts and the last sentence ends
    words = layout.count(b" a")
    sentences = layout.count(b". ")
    spaces = count_deleted(data, _WHITESPACE)
    return (
        float(len(numbers)),
        float(len(set(numbers))),
        sum(map(len, numbers)) / size,
        float(words),
        (len(data) - spaces) / max(words, 1),
        float(sentences),
        words / max(sentences, 1),
        float(data.count(b"?")),
        float(data.count(b"\n")),
        (len(data) - len(window)) / size,
        float(count_deleted(data, _CODE_PUNCTUATION) + sum(data.count(p) for p in _CODE_PHRASES)),
        float(count_deleted(data, _MATH_OPERATORS)),
        float(count_deleted(data, _UNIT_MARKS)),
    )


def shape_features(texts: Sequence[str]) -> np.ndarray:
    """float32 (n, len(SHAPE_FEATURE_NAMES)): `prompt_shape` of each text."""
    if not texts:
        return np.zeros((0, len(SHAPE_FEATURE_NAMES)), dtype=np.float32)
    return np.array([prompt_shape(t) for t in texts], dtype=np.float32)
