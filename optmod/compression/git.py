"""git output: diffs (git diff, git show, git log -p), long-form git status, and git log without patches.

A diff is rewritten to the form `git diff -U1` would print: one line of context around each change instead of
three, hunk headers recomputed so every kept line keeps its exact line number, and the `index`, `---` and
`+++` lines dropped (the `diff --git` line names both files). A run of more than `RUN_CAP` added or removed
lines keeps its head and tail around a marker that says how many lines were left out. The `--stat`
histogram bars go; the paths and counts stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

DIFF_START = re.compile(r"^diff --git |^--- \S.*\n\+\+\+ \S.*\n@@ -\d", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_STAT = re.compile(r"^( \S[^|]*\s\|\s+\d+) [+-]+$")
_FILE_HEADER_NOISE = ("index ", "--- ", "+++ ")
CONTEXT = 1
RUN_CAP = 60
RUN_HEAD = 40
RUN_TAIL = 10


def detect_diff(text: str) -> bool:
    return DIFF_START.search(text) is not None


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str  # " ", "+", "-" or "\\" (no newline at end of file)
    text: str
    old: int  # line number in the old file of this line (or of the next old line for "+")
    new: int


def compress_diff(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_file_header = False
    i = 0
    while i < len(lines):
        line = lines[i]
        hunk = _HUNK.match(line)
        if hunk:
            body, i = _read_hunk(lines, i + 1, hunk)
            out.extend(_render_hunk(body, hunk.group(5)))
            in_file_header = False
            continue
        if line.startswith("diff --git "):
            in_file_header = True
        elif in_file_header and line.startswith(_FILE_HEADER_NOISE):
            i += 1
            continue
        stat = _STAT.match(line)
        out.append(stat.group(1) if stat else line)
        i += 1
    return "\n".join(out)


def _read_hunk(lines: list[str], start: int, header: re.Match[str]) -> tuple[list[_Line], int]:
    old_left = int(header.group(2) or "1")
    new_left = int(header.group(4) or "1")
    # For an empty side git names the line before the change (`-0,0` for a new file): count from the next one.
    old = int(header.group(1)) + (old_left == 0)
    new = int(header.group(3)) + (new_left == 0)
    body: list[_Line] = []
    i = start
    while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
        line = lines[i]
        kind = line[:1] or " "  # some tools strip the trailing space of an empty context line
        if kind not in " +-\\":
            break
        body.append(_Line(kind, line, old, new))
        if kind in " -":
            old, old_left = old + 1, old_left - 1
        if kind in " +":
            new, new_left = new + 1, new_left - 1
        i += 1
    return body, i


def _render_hunk(body: list[_Line], section: str) -> Iterator[str]:
    changed = [n for n, line in enumerate(body) if line.kind in "+-\\"]
    keep = {k for n in changed for k in range(n - CONTEXT, n + CONTEXT + 1) if 0 <= k < len(body)}
    for group in _contiguous(sorted(keep)):
        lines = [body[n] for n in group]
        yield _header(lines, section)
        yield from _cap_runs(lines)


def _contiguous(indexes: list[int]) -> Iterator[list[int]]:
    group: list[int] = []
    for n in indexes:
        if group and n != group[-1] + 1:
            yield group
            group = []
        group.append(n)
    if group:
        yield group


def _header(lines: list[_Line], section: str) -> str:
    old_count = sum(1 for line in lines if line.kind in " -")
    new_count = sum(1 for line in lines if line.kind in " +")
    # git's convention: an empty side starts one line before the change.
    old_start = lines[0].old if old_count else lines[0].old - 1
    new_start = lines[0].new if new_count else lines[0].new - 1
    return f"@@ -{old_start},{old_count} +{new_start},{new_count} @@{section}"


def _cap_runs(lines: list[_Line]) -> Iterator[str]:
    run: list[_Line] = []
    for line in lines:
        if run and line.kind != run[-1].kind:
            yield from _cap_run(run)
            run = []
        run.append(line)
    yield from _cap_run(run)


def _cap_run(run: list[_Line]) -> Iterator[str]:
    if len(run) <= RUN_CAP or run[0].kind not in "+-":
        yield from (line.text for line in run)
        return
    yield from (line.text for line in run[:RUN_HEAD])
    omitted = len(run) - RUN_HEAD - RUN_TAIL
    verb = "added" if run[0].kind == "+" else "removed"
    yield f"~ {omitted} {verb} lines omitted ~"
    yield from (line.text for line in run[-RUN_TAIL:])


# --- git status (long form) ---

STATUS_START = re.compile(
    r"^(On branch \S+|HEAD detached at \S+|Changes to be committed:|Changes not staged for commit:|Untracked files:)$",
    re.MULTILINE,
)
_STATUS_HINT = re.compile(r"^\s+\(use \"git .*\)$|^\s+\(commit or discard .*\)$")
_STATUS_ENTRY = re.compile(
    r"^\t(new file|modified|deleted|renamed|copied|typechange|both modified|both added|"
    r"both deleted|added by us|added by them|deleted by us|deleted by them):\s+(.*)$"
)
_STATUS_CODES = {"new file": "A", "modified": "M", "deleted": "D", "renamed": "R", "copied": "C", "typechange": "T"}
_STATUS_TRAILER = re.compile(r"^no changes added to commit|^nothing added to commit but untracked")
GROUP_MIN = 4


def detect_status(text: str) -> bool:
    return STATUS_START.search(text) is not None and "\t" in text


def compress_status(text: str) -> str:
    out: list[str] = []
    untracked: list[str] = []
    for line in text.split("\n"):
        if _STATUS_HINT.match(line) or _STATUS_TRAILER.match(line):
            continue
        entry = _STATUS_ENTRY.match(line)
        if entry:
            code = _STATUS_CODES.get(entry.group(1), entry.group(1) + ":")
            out.append(f"{code} {entry.group(2)}")
        elif line.startswith("\t"):
            untracked.append(line[1:])
        else:
            out.extend(_group_paths(untracked))
            untracked = []
            out.append(line)
    out.extend(_group_paths(untracked))
    return "\n".join(out).rstrip("\n") + "\n"


def _group_paths(paths: list[str]) -> list[str]:
    """Paths that share a folder go on one line after it: `src/: a.o b.o`; lone paths stay as they are."""
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        folder, _, name = path.rstrip("/").rpartition("/")
        by_folder.setdefault(folder, []).append(name + ("/" if path.endswith("/") else ""))
    out: list[str] = []
    for folder, names in by_folder.items():
        if len(names) >= GROUP_MIN:
            out.append(f"{folder or '.'}/: {' '.join(names)}")
        else:
            out.extend(f"{folder}/{name}" if folder else name for name in names)
    return out


# --- git log without patches ---

LOG_START = re.compile(r"^commit [0-9a-f]{40}\b", re.MULTILINE)


def detect_log(text: str) -> bool:
    return LOG_START.search(text) is not None


def compress_log(text: str) -> str:
    """Blank separators, stat bars and repeated authors go; every other line stays as it was."""
    out: list[str] = []
    author = ""
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("Author: "):
            if line == author:
                continue  # the same author as the commit above: say it once
            author = line
        stat = _STAT.match(line)
        out.append(stat.group(1) if stat else line)
    return "\n".join(out) + "\n"
