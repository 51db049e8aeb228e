"""The filter table and `compress_output`, the one entry point: text in, shorter text (or the same) out.

Filters are tried in table order and the first whose detector recognises the shape of the content wins,
so more specific shapes (a diff, a pytest run) come before general ones (a path list, a repetitive log,
anything long). Output that is short, JSON, unrecognised, or that a filter cannot shorten by at least
`MIN_SAVING` comes back unchanged. Everything here is a pure function of the text: the same tool output
always compresses to the same bytes, which is what keeps the provider's prompt cache valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from optmod.compression import diagnostics, git, listing, logs, search, testrun, truncate


@dataclass(frozen=True, slots=True)
class OutputFilter:
    """A named filter: `detect` looks at the shape of the text, `compress` rewrites it."""

    name: str
    detect: Callable[[str], bool]
    compress: Callable[[str], str]


FILTERS: tuple[OutputFilter, ...] = (
    OutputFilter("git_diff", git.detect_diff, git.compress_diff),
    OutputFilter("git_status", git.detect_status, git.compress_status),
    OutputFilter("pytest", testrun.detect_pytest, testrun.compress_pytest),
    OutputFilter("unittest", testrun.detect_unittest, testrun.compress_unittest),
    OutputFilter("cargo", testrun.detect_cargo, testrun.compress_cargo),
    OutputFilter("go_test", testrun.detect_go_test, testrun.compress_go_test),
    OutputFilter("jest", testrun.detect_jest, testrun.compress_jest),
    OutputFilter("tsc", diagnostics.detect_tsc, diagnostics.compress_diagnostics),
    OutputFilter("mypy", diagnostics.detect_mypy, diagnostics.compress_diagnostics),
    OutputFilter("ruff", diagnostics.detect_ruff, diagnostics.compress_diagnostics),
    OutputFilter("build_log", diagnostics.detect_build_log, diagnostics.compress_build_log),
    OutputFilter("git_log", git.detect_log, git.compress_log),
    OutputFilter("grep", search.detect_grep, search.compress_grep),
    OutputFilter("ls", listing.detect_ls, listing.compress_ls),
    OutputFilter("tree", listing.detect_tree, listing.compress_tree),
    OutputFilter("find", listing.detect_paths, listing.compress_paths),
    OutputFilter("log_dedup", logs.detect_log, logs.compress_log),
    OutputFilter("truncate", truncate.detect_long, truncate.truncate_middle),
)
FILTER_NAMES = tuple(f.name for f in FILTERS)

# A rewrite that saves less than this share is not worth a changed message.
MIN_SAVING = 0.05
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Compressed:
    """The result of `compress_output`: the text to send and the filter that produced it (None: unchanged)."""

    text: str
    filter: str | None


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False
    try:
        return isinstance(json.loads(stripped), (dict, list))
    except ValueError:
        return False


def strip_colours(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b[" in text else text


def render_terminal(text: str) -> str:
    """The text as a terminal would show it: no colour codes, LF line ends, and of a line that a progress bar
    rewrote with carriage returns only its last state."""
    text = strip_colours(text).replace("\r\n", "\n")
    if "\r" not in text:
        return text
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def select_filter(text: str) -> OutputFilter | None:
    """The first filter whose detector recognises the text (colour codes already stripped), or None."""
    return next((f for f in FILTERS if f.detect(text)), None)


def compress_output(text: str, min_chars: int) -> Compressed:
    if len(text) < min_chars or looks_like_json(text):
        return Compressed(text, None)
    # Colour codes, CRLF and progress-bar redraws carry nothing for a model; they go only when a filter rewrites
    # the text anyway.
    plain = render_terminal(text)
    chosen = select_filter(plain)
    if chosen is None:
        return Compressed(text, None)
    result = chosen.compress(plain).rstrip("\n") + ("\n" if text.endswith("\n") else "")
    if len(result) > (1 - MIN_SAVING) * len(text):
        return Compressed(text, None)
    return Compressed(result, chosen.name)
