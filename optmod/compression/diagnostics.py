"""Compiler and linter diagnostics (ruff, mypy, tsc, gcc) and build logs (configure, make, libtool).

Every diagnostic line (`path:line:col: error ...`, `--> path:line:col`, `CODE message`, `help:`) stays
verbatim. What goes is what the agent can read in the file itself: the code frames under each diagnostic,
the caret and tilde underlines, ruff's fix previews; and in build logs the progress chatter (`checking
for ...`, `CC src/x.lo`, the full compiler command lines, `Entering directory`).
"""

from __future__ import annotations

import re
from collections import Counter

from optmod.compression.pruning import NoiseRule, join_with_note, prune_lines, squeeze_blank_lines

_FRAME_RULES: tuple[NoiseRule, ...] = (
    ("code-frame lines", re.compile(r"^\s*(?:\d+\s*)?\|")),  # ruff, rustc and gcc frames: ` 12 |   code`, `   |   ^~~`
    ("code-frame lines", re.compile(r"^\s*[\^~][\s\^~]*$")),
    ("code-frame lines", re.compile(r"^\d+\s+\S")),  # tsc --pretty prints `23 module.exports = ...`
    ("fix-preview lines", re.compile(r"^\s*\d+\s+[-+](\s|$)|^\s+-(\s|$)|^-{20,}$")),
)

# --- ruff ---

# The full format puts `CODE message` on one line and ` --> path:line:col` below; concise puts both on one.
RUFF_FULL = re.compile(r"^[A-Z]{1,4}\d{3,4} .*\n[ \t]*--> \S+:\d+:\d+$", re.MULTILINE)
RUFF_CONCISE = re.compile(r"^\S+:\d+:\d+: [A-Z]{1,4}\d{3,4} ", re.MULTILINE)


def detect_ruff(text: str) -> bool:
    return RUFF_FULL.search(text) is not None or RUFF_CONCISE.search(text) is not None


# --- mypy ---

MYPY_SHAPE = re.compile(r"^\S+:\d+: (error|note|warning): ", re.MULTILINE)
MYPY_END = re.compile(r"^(Found \d+ errors? in \d+ files?|Success: no issues found)", re.MULTILINE)


def detect_mypy(text: str) -> bool:
    return MYPY_SHAPE.search(text) is not None


# --- tsc ---

TSC_SHAPE = re.compile(r"^\S+(\(\d+,\d+\): | ?:\d+:\d+ - )error TS\d+: ", re.MULTILINE)


def detect_tsc(text: str) -> bool:
    return TSC_SHAPE.search(text) is not None


def compress_diagnostics(text: str) -> str:
    dropped: Counter[str] = Counter()
    kept = prune_lines(text.split("\n"), _FRAME_RULES, dropped)
    return join_with_note(squeeze_blank_lines(kept), dropped)


# --- configure / make / compiler logs ---

BUILD_SHAPE = re.compile(
    r"^(checking (for|whether|how|if) .*\.\.\.|make(\[\d+\])?: |[ \t]+(CC|CCLD|CXX|CXXLD|GEN)[ \t]+\S+$|"
    r"libtool: (compile|link): |\S+\.(c|cc|cpp|cxx|h|hpp):\d+:\d+: (warning|error): )",
    re.MULTILINE,
)
_BUILD_RULES: tuple[NoiseRule, ...] = (
    ("configure checks", re.compile(r"^checking .*\.\.\. ")),
    ("config.status lines", re.compile(r"^config\.status: (creating|executing|linking) ")),
    ("directory change lines", re.compile(r"^make(\[\d+\])?: (Entering|Leaving) directory ")),
    ("compile progress lines", re.compile(r"^\s+(CC|CCLD|CXX|CXXLD|AR|LD|GEN|YACC|LEX|RANLIB)\s+\S+$")),
    (
        "compiler command lines",
        re.compile(
            r"^(libtool: (compile|link): |(/usr/bin/)?(gcc|cc|g\+\+|c\+\+|clang|clang\+\+|ld|ar|ranlib) |"
            r"/bin/bash \./libtool |depbase=|mv -f \$depbase|mkdir -p )"
        ),
    ),
    *_FRAME_RULES,
)


def detect_build_log(text: str) -> bool:
    return len(BUILD_SHAPE.findall(text)) >= 3


def compress_build_log(text: str) -> str:
    dropped: Counter[str] = Counter()
    kept = prune_lines(text.split("\n"), _BUILD_RULES, dropped)
    return join_with_note(squeeze_blank_lines(kept), dropped)
