"""Directory listings: `ls -l` / `ls -la` / `ls -laR`, `tree`, and path lists such as `find` prints.

`ls -l` keeps what an agent acts on (name, kind, size, unusual permissions or owner) and drops what it rarely
needs (link count, dates, the common owner, the usual modes). `tree` loses its box-drawing prefixes for a
two-space indent, and a folder's files share lines. A path list is grouped by folder. Nothing is dropped:
every name in the listing stays.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

_LS_ENTRY = re.compile(
    r"^(?P<mode>[dlcbps-][rwxsStT-]{9})[.+@]?\s+\d+\s+(?P<owner>\S+)\s+(?P<group>\S+)\s+"
    r"(?P<size>\d+(?:,\s*\d+)?)\s+\w{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})\s(?P<name>.*)$"
)
_LS_TOTAL = re.compile(r"^total \d+$")
_USUAL_MODES = {"drwxr-xr-x": "/", "-rw-r--r--": "", "-rwxr-xr-x": "*", "lrwxrwxrwx": "@"}
LS_MIN_SHARE = 0.6
LS_MIN_ENTRIES = 5


def detect_ls(text: str) -> bool:
    lines = [line for line in text.split("\n") if line]
    entries = sum(1 for line in lines if _LS_ENTRY.match(line))
    return entries >= LS_MIN_ENTRIES and entries >= LS_MIN_SHARE * len(lines)


def compress_ls(text: str) -> str:
    lines = text.split("\n")
    owners = Counter(f"{m['owner']}:{m['group']}" for m in map(_LS_ENTRY.match, lines) if m)
    common = owners.most_common(1)[0][0] if owners else ""
    out = [f"(ls: owner {common} unless shown; / dir, * executable, @ symlink; sizes in bytes)"]
    for line in lines:
        entry = _LS_ENTRY.match(line)
        if entry is None:
            if line and not _LS_TOTAL.match(line):
                out.append(line)
            continue
        if entry["name"] in (".", ".."):
            continue
        out.append(_ls_line(entry, common))
    return "\n".join(out) + "\n"


def _ls_line(entry: re.Match[str], common_owner: str) -> str:
    mode, name = entry["mode"], entry["name"]
    marker = _USUAL_MODES.get(mode)
    parts = [name + (marker if marker is not None and marker != "@" else "")]
    if mode.startswith("l"):
        parts[0] = name.replace(" -> ", "@ -> ", 1)
    elif mode.startswith("-"):
        parts.append(entry["size"])
    if marker is None:
        parts.append(f"[{mode}]")
    owner = f"{entry['owner']}:{entry['group']}"
    if owner != common_owner:
        parts.append(owner)
    return " ".join(parts)


# --- tree ---

_TREE_ENTRY = re.compile(r"^(?P<indent>(?:[│| ][\xa0 ]{2} )*)(?:[├└]──|[|`]--)[\xa0 ](?P<name>.*)$")
_TREE_SUMMARY = re.compile(r"^\d+ director(?:y|ies)(?:, \d+ files?)?$", re.MULTILINE)
LINE_WIDTH = 100


def detect_tree(text: str) -> bool:
    return _TREE_SUMMARY.search(text) is not None and ("── " in text or "`-- " in text)


def compress_tree(text: str) -> str:
    lines = text.split("\n")
    parsed = [_TREE_ENTRY.match(line) for line in lines]
    depths = [len(m["indent"]) // 4 if m else -1 for m in parsed]
    out: list[str] = []
    leaves: list[str] = []
    leaf_depth = -1
    for n, match in enumerate(parsed):
        if match is None:
            out.extend(_pack(leaves, leaf_depth))
            leaves = []
            out.append(lines[n])
            continue
        depth, name = depths[n], match["name"]
        is_folder = n + 1 < len(depths) and depths[n + 1] > depth
        if is_folder or depth != leaf_depth:
            out.extend(_pack(leaves, leaf_depth))
            leaves = []
        if is_folder:
            out.append("  " * (depth + 1) + name + "/")
            continue
        leaves.append(name)
        leaf_depth = depth
    out.extend(_pack(leaves, leaf_depth))
    return "\n".join(out)


def _pack(names: list[str], depth: int) -> Iterator[str]:
    """Sibling names on shared lines of at most LINE_WIDTH characters, two spaces apart."""
    indent = "  " * (depth + 1)
    line = ""
    for name in names:
        if line and len(line) + 2 + len(name) > LINE_WIDTH:
            yield indent + line
            line = ""
        line = f"{line}  {name}" if line else name
    if line:
        yield indent + line


# --- path lists (find) ---

_PATH = re.compile(r"^\.{0,2}/?(?:[\w.+@-]+/)+[\w.+@-]+/?$")
PATHS_MIN = 10
PATHS_MIN_SHARE = 0.9


def detect_paths(text: str) -> bool:
    lines = [line for line in text.split("\n") if line]
    hits = sum(1 for line in lines if _PATH.match(line))
    return hits >= PATHS_MIN and hits >= PATHS_MIN_SHARE * len(lines)


def compress_paths(text: str) -> str:
    out: list[str] = []
    folder, names = "", list[str]()
    for line in text.split("\n"):
        if not _PATH.match(line):
            out.extend(_folder_line(folder, names))
            folder, names = "", []
            if line:
                out.append(line)
            continue
        parent, _, name = line.rstrip("/").rpartition("/")
        if parent != folder:
            out.extend(_folder_line(folder, names))
            folder, names = parent, []
        names.append(name + ("/" if line.endswith("/") else ""))
    out.extend(_folder_line(folder, names))
    return "\n".join(out) + "\n"


def _folder_line(folder: str, names: list[str]) -> list[str]:
    if not names:
        return []
    if len(names) == 1:
        return [f"{folder}/{names[0]}"]
    return [f"{folder}/: {' '.join(names)}"]
