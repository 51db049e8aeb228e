"""grep -rn / rg -n output: matches grouped under their file, long lines clipped, long files summarised.

Each file's path is written once instead of on every match. The first `PER_FILE` matches of a file keep
their line number and text (indentation stripped, clipped at `TEXT_CAP` characters); the rest keep their
line numbers only, so every path:line of the original can still be found and opened.
"""

from __future__ import annotations

import re

# A path holds a non-digit: `09:00:00` at the start of a line is a time, not file 09, line 00.
_MATCH = re.compile(r"^(?P<path>(?=[^\s:]*[^\s:\d])[^\s:]+?):(?P<line>\d+):(?P<text>.*)$")
_CONTEXT = re.compile(r"^(?P<path>[^\s:]+?)-(?P<line>\d+)-(?P<text>.*)$")
PER_FILE = 10
TEXT_CAP = 160
MIN_MATCHES = 5
MIN_SHARE = 0.8


def detect_grep(text: str) -> bool:
    lines = [line for line in text.split("\n") if line and line != "--"]
    hits = sum(1 for line in lines if _MATCH.match(line))
    return hits >= MIN_MATCHES and hits >= MIN_SHARE * len(lines)


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
