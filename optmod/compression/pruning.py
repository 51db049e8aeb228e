"""Dropping noise lines by shape, never a signal line, with one closing note that counts what went.

Filters for test runners and builds describe their noise as a table of (label, pattern); `prune_lines`
drops every line that matches one, unless `signals.is_signal` says it must stay, and `omission_note` tells
the model what was left out so it does not take the shorter output for the whole story.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from optmod.compression.signals import is_signal

NoiseRule = tuple[str, re.Pattern[str]]


def prune_lines(
    lines: Iterable[str], rules: Sequence[NoiseRule], dropped: Counter[str], forced: Sequence[NoiseRule] = ()
) -> list[str]:
    """The lines that match no rule (or are signals); `dropped` counts the others by label.

    `forced` rules drop a line even when it reads like a signal: a passing test whose name or docstring says
    "raises an error" reports a success, not an error.
    """
    kept: list[str] = []
    for line in lines:
        label = next((label for label, pattern in forced if pattern.search(line)), None)
        if label is None:
            label = next((label for label, pattern in rules if pattern.search(line)), None)
            if label is not None and is_signal(line):
                label = None
        if label is None:
            kept.append(line)
        else:
            dropped[label] += 1
    return kept


def omission_note(dropped: Counter[str]) -> str:
    """`[optmod: omitted 120 passed tests, 4 blank lines]`, labels in first-seen order; '' when nothing went."""
    parts = [f"{count} {label}" for label, count in dropped.items() if count]
    return f"[optmod: omitted {', '.join(parts)}]" if parts else ""


def join_with_note(lines: list[str], dropped: Counter[str]) -> str:
    note = omission_note(dropped)
    body = "\n".join(lines).rstrip("\n")
    return f"{body}\n{note}\n" if note else body + "\n"


def squeeze_blank_lines(lines: Iterable[str]) -> list[str]:
    """Runs of blank lines become one; they separate sections, more of them say nothing."""
    out: list[str] = []
    for line in lines:
        if line.strip() or (out and out[-1].strip()):
            out.append(line if line.strip() else "")
    return out
