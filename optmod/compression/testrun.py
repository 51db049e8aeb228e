"""Test-runner output: pytest, unittest, cargo (build and test), go test, jest.

What goes: lines about tests that passed or were skipped, progress dots, compile-progress lines, code
context that a traceback or a diagnostic repeats from the source file. What stays, verbatim: failing test
names, assertion messages and `E` lines, every path:line, warnings, errors, and the closing summary. A note
at the end counts what was omitted.
"""

from __future__ import annotations

import re
from collections import Counter

from optmod.compression.pruning import NoiseRule, join_with_note, prune_lines, squeeze_blank_lines
from optmod.compression.signals import is_signal

# --- pytest ---

# -v and default runs open with the session banner; -q runs only close with the summary line.
PYTEST_START = re.compile(
    r"^=+ test session starts =+$|^=* ?(\d+ [\w ]+, )*\d+ (passed|failed)\b.* in [\d.]+s( \([\d:]+\))?( =+)?$",
    re.MULTILINE,
)
_PYTEST_SECTION = re.compile(r"^(=+|_+|-+) (?P<title>.*?) (=+|_+|-+)$")
_PYTEST_PASSED: tuple[NoiseRule, ...] = (
    ("passed or skipped test lines", re.compile(r"^(?>.*?::\S).*? (PASSED|SKIPPED|XFAIL|XPASS|SUBPASS)\b")),
    ("passed or skipped test lines", re.compile(r"^(?=\S+::\S).* $")),  # the line -v prints before subtests
)
_PYTEST_NOISE: tuple[NoiseRule, ...] = (
    ("progress lines", re.compile(r"^\S+\.py [.sx]+\s*(\[\s*\d+%\])?$")),
    ("progress lines", re.compile(r"^[.sx]+\s*(\[\s*\d+%\])?$")),
    ("progress lines", re.compile(r"^[.sxFE]+\s*\[\s*\d+%\]$")),  # -q: failures are listed again below
)
# Inside a failure: `>` marks the failing line, `E` the error; plain source lines around them are the file.
_TB_SOURCE = re.compile(r"^( {4,}|\t)\S")
_TB_SHORT_FRAME = re.compile(r"^\S+:\d+: in \S+")


def detect_pytest(text: str) -> bool:
    return PYTEST_START.search(text) is not None


def compress_pytest(text: str) -> str:
    dropped: Counter[str] = Counter()
    out: list[str] = []
    section = ""
    previous = ""
    for line in text.split("\n"):
        header = _PYTEST_SECTION.match(line)
        if header and line[0] in "=":
            section = header["title"].lower()
        if section in ("failures", "errors") and not header and _is_traceback_source(line, previous):
            dropped["traceback source lines"] += 1
            continue
        if "warnings summary" in section and line in out:
            dropped["repeated warning lines"] += 1
            continue
        if line.startswith("-- Docs: https://docs.pytest.org"):
            continue
        out.extend(prune_lines([line], _PYTEST_NOISE, dropped, forced=_PYTEST_PASSED))
        previous = line
    return join_with_note(squeeze_blank_lines(out), dropped)


def _is_traceback_source(line: str, previous: str) -> bool:
    if not _TB_SOURCE.match(line) or is_signal(line):
        return False
    # --tb=short prints one source line under each `path:N: in func` frame: that one line is the context.
    return not _TB_SHORT_FRAME.match(previous)


# --- unittest ---

UNITTEST_END = re.compile(r"^Ran \d+ tests? in [\d.]+s$", re.MULTILINE)
_UNITTEST_PASSED: tuple[NoiseRule, ...] = (
    ("passed or skipped test lines", re.compile(r" \.\.\. (ok|skipped\b.*|expected failure)$")),
)
_UNITTEST_NOISE: tuple[NoiseRule, ...] = (
    ("progress lines", re.compile(r"^[.sx]+$")),
    ("caret lines under traceback source", re.compile(r"^\s+[\^~]+$")),
)
# With docstrings, -v prints `test_x (pkg.Class.test_x)` and the docstring's first line `... ok` below it.
_UNITTEST_NAME_ONLY = re.compile(r"^\w+ \([\w.]+\)$")


def detect_unittest(text: str) -> bool:
    return UNITTEST_END.search(text) is not None


def compress_unittest(text: str) -> str:
    dropped: Counter[str] = Counter()
    lines = text.split("\n")
    out: list[str] = []
    for n, line in enumerate(lines):
        following = lines[n + 1] if n + 1 < len(lines) else ""
        if _UNITTEST_NAME_ONLY.match(line) and _UNITTEST_PASSED[0][1].search(following):
            continue  # the name line of a passing test; the docstring line below it is counted
        out.extend(prune_lines([line], _UNITTEST_NOISE, dropped, forced=_UNITTEST_PASSED))
    return join_with_note(out, dropped)


# --- cargo ---

CARGO_SHAPE = re.compile(
    r"^[ \t]+(Compiling|Finished|Running|Checking) \S+|^test result: |^error(\[E\d+\])?: ", re.MULTILINE
)
_CARGO_RUST = re.compile(r"^[ \t]+--> \S+:\d+:\d+$|^[ \t]+Finished `?\w+`? profile", re.MULTILINE)
_CARGO_PASSED: tuple[NoiseRule, ...] = (
    ("passed or ignored test lines", re.compile(r"^test \S+ \.\.\. (ok|ignored)$")),
)
_CARGO_NOISE: tuple[NoiseRule, ...] = (
    (
        "compile progress lines",
        re.compile(
            r"^\s+(Compiling|Checking|Downloaded|Downloading|Fresh|Blocking|"
            r"Updating|Locking|Adding|Documenting) \S+"
        ),
    ),
    ("empty code-frame lines", re.compile(r"^\s+\|\s*$")),
)


def detect_cargo(text: str) -> bool:
    return CARGO_SHAPE.search(text) is not None and _CARGO_RUST.search(text) is not None


_BACKTRACE_FRAME = re.compile(r"^\s+\d+: \S")
_BACKTRACE_AT = re.compile(r"^\s+at \S+:\d+(:\d+)?$")
_CARGO_NOTE = re.compile(r"^note: ")


def compress_cargo(text: str) -> str:
    dropped: Counter[str] = Counter()
    lines = _drop_repeated_frames(text.split("\n"), dropped)
    return join_with_note(prune_lines(lines, _CARGO_NOISE, dropped, forced=_CARGO_PASSED), dropped)


def _drop_repeated_frames(lines: list[str], dropped: Counter[str]) -> list[str]:
    """Each failing test prints the same standard-library frames: the second copy of a frame says nothing new."""
    seen: set[tuple[str, str]] = set()
    out: list[str] = []
    n = 0
    while n < len(lines):
        line = lines[n]
        following = lines[n + 1] if n + 1 < len(lines) else ""
        at = following if _BACKTRACE_AT.match(following) else ""
        if _BACKTRACE_FRAME.match(line) or _CARGO_NOTE.match(line):
            frame = (line, at)
            if frame in seen:
                dropped["repeated backtrace frames and notes"] += 1
                n += 2 if at else 1
                continue
            seen.add(frame)
        out.append(line)
        n += 1
    return out


# --- go test ---

GO_SHAPE = re.compile(
    r"^(=== RUN\s|--- (PASS|FAIL|SKIP): |ok\s+\S+\s+(\(cached\)|[\d.]+s)|FAIL\s+\S+\s+[\d.]+s)", re.MULTILINE
)
_GO_PASSED: tuple[NoiseRule, ...] = (
    ("run/pause/continue lines", re.compile(r"^\s*=== (RUN|PAUSE|CONT|NAME)\s")),
    ("passed or skipped test lines", re.compile(r"^\s*--- (PASS|SKIP): ")),
)


def detect_go_test(text: str) -> bool:
    return GO_SHAPE.search(text) is not None


def compress_go_test(text: str) -> str:
    dropped: Counter[str] = Counter()
    return join_with_note(prune_lines(text.split("\n"), (), dropped, forced=_GO_PASSED), dropped)


# --- jest ---

JEST_SHAPE = re.compile(r"^Tests:\s+(\d+ \w+, )*\d+ total$", re.MULTILINE)
_JEST_PASSED = re.compile(r"^\s+[✓√○] ")
_JEST_FAILED = re.compile(r"^\s+[✕×] ")
_JEST_FILE = re.compile(r"^(PASS|FAIL) \S")
_JEST_PASSED_RULES: tuple[NoiseRule, ...] = (("passed or skipped test lines", _JEST_PASSED),)
_JEST_NOISE: tuple[NoiseRule, ...] = (
    ("code-frame context lines", re.compile(r"^\s+\d+ \|")),  # the failing line is marked `> 12 |` and stays
    ("code-frame context lines", re.compile(r"^\s+\|\s*\^?\s*$")),
)


def detect_jest(text: str) -> bool:
    return JEST_SHAPE.search(text) is not None


def compress_jest(text: str) -> str:
    """Passing tests go; in the result list a describe title stays only when a failing test follows it."""
    dropped: Counter[str] = Counter()
    out: list[str] = []
    titles: list[str] = []
    in_listing = False
    for line in text.split("\n"):
        if _JEST_FILE.match(line):
            in_listing = True
        elif not line.strip():
            in_listing = False
            dropped["describe titles with only passing tests"] += len(titles)
            titles = []
        elif in_listing and not _JEST_PASSED.match(line) and not _JEST_FAILED.match(line):
            outer = [title for title in titles if _indent(title) < _indent(line)]
            dropped["describe titles with only passing tests"] += len(titles) - len(outer)
            titles = [*outer, line]
            continue
        if _JEST_FAILED.match(line):
            out.extend(titles)
            titles = []
        out.extend(prune_lines([line], _JEST_NOISE, dropped, forced=_JEST_PASSED_RULES))
    return join_with_note(out, dropped)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
