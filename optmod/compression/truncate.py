"""The fallback for long output no other filter recognises: keep the head, the tail, and the signals between.

Only output longer than `LONG_LINES` lines and `LONG_CHARS` characters is touched; anything shorter that no
filter recognised is returned unchanged. From the middle, every line that `signals.is_signal` flags (errors,
warnings, path:line references, exit codes) survives with its neighbours, and each omitted stretch is
replaced by one marker line that says how many lines it held.
"""

from __future__ import annotations

from optmod.compression.signals import is_signal

LONG_LINES = 200
LONG_CHARS = 12_000
HEAD = 60
TAIL = 40
NEIGHBOURS = 1


def detect_long(text: str) -> bool:
    return len(text) > LONG_CHARS and text.count("\n") > LONG_LINES


def truncate_middle(text: str) -> str:
    lines = text.split("\n")
    keep = set(range(min(HEAD, len(lines)))) | set(range(max(0, len(lines) - TAIL), len(lines)))
    for n in range(HEAD, len(lines) - TAIL):
        if is_signal(lines[n]):
            keep.update(range(n - NEIGHBOURS, n + NEIGHBOURS + 1))
    out: list[str] = []
    omitted = 0
    for n, line in enumerate(lines):
        if n in keep:
            if omitted:
                out.append(f"[... {omitted} lines omitted ...]")
                omitted = 0
            out.append(line)
        else:
            omitted += 1
    return "\n".join(out)
