"""grep -rn / rg -n output: matches grouped under their file, long lines clipped, long files summarised.

Each file's path is written once instead of on every match. The first `PER_FILE` matches of a file keep
their line number and text (indentation stripped, clipped at `TEXT_CAP` characters); the rest keep their
line numbers only, so every path:line of the original can still be found and opened.
"""

from __future__ import annotations

import re
from itertools import pairwise

# A path holds a non-digit and is no date: `09:00:00` or `2026-11-27T10:00:00Z` at the start of a line is a
# time, not file 09 (or 2026-11-27T10), line 00.
_MATCH = re.compile(r"^(?P<path>(?!\[?\d{4}-\d{2}-\d{2})(?=[^\s:]*[^\s:\d])[^\s:]+?):(?P<line>\d+):(?P<text>.*)$")
_CONTEXT = re.compile(r"^(?P<path>[^\s:]+?)-(?P<line>\d+)-(?P<text>.*)$")
PER_FILE = 10
TEXT_CAP = 160
MIN_MATCHES = 5
MIN_SHARE = 0.8


def detect_grep(text: str) -> bool:
    lines = [line for line in text.split("\n") if line and line != "--"]
    matches = [m for m in map(_MATCH.match, lines) if m]
    if len(matches) < MIN_MATCHES or len(matches) < MIN_SHARE * len(lines):
        return False
    # grep reports a file's matches in file order, each line once: a "line number" that repeats or goes back
    # under the same "path" means these are not matches (a time stamp or a table with colons, say).
    for before, after in pairwise(matches):
        if before["path"] == after["path"] and int(after["line"]) <= int(before["line"]):
            return False
    return True


def compress_grep(text: str) -> str:
    out: list[str] = []
    current = ""
    shown: list[str] = []
    hidden: list[str] = []
    for line in text.split("\n"):
        match = _MATCH.match(line) or _CONTEXT.match(line)
        if match is None:
            if line and line != "--":
                out.extend(_flush(current, shown, hidden))
                current, shown, hidden = "", [], []
                out.append(line)
            continue
        path, number = match.group("path"), match.group("line")
        if path != current:
            out.extend(_flush(current, shown, hidden))
            current, shown, hidden = path, [], []
        if len(shown) < PER_FILE:
            shown.append(f"  {number}: {_clip(match.group('text').strip())}")
        else:
            hidden.append(number)
    out.extend(_flush(current, shown, hidden))
    return "\n".join(out) + "\n"


def _flush(path: str, shown: list[str], hidden: list[str]) -> list[str]:
    if not path:
        return []
    lines = [path, *shown]
    if hidden:
        lines.append(f"  +{len(hidden)} more matches at lines {' '.join(hidden)}")
    return lines


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + "…"
