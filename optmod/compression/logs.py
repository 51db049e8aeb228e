"""Repetitive logs: lines that differ only in numbers, ids or timestamps are shown once, with a count.

Two lines share a pattern when they are equal after every digit run becomes `0` and every long hex id
becomes `x`. Of each pattern the first and the last line stay verbatim, each in its own place, so the lines
shown are the original lines in their original order (events never read out of order); a note under the
first says how many there were and whether they came in a row or spread over the output. A pattern is never
merged with a different one, so each distinct warning or error is still there.

What may be merged. A log is a stream of event records: a time of day or a level word, then a message. A
table is a grid of values, and there the numbers are the data: a CSV of readings, a `ps` or `squeue`
listing. Both can carry times on every line and differ only in digits from row to row, so times alone do
not tell them apart. The filter declines text that has a table's structure:
- a header row: a first line of names (no values), unique in the text, that splits into the columns of the
  rows below (the same delimiter count, or words standing over the whitespace columns);
- without a header, a consistent column structure: one delimiter (comma, tab, semicolon, pipe) the same
  number of times on nearly every line, or whitespace columns padded to line up - unless the lines carry
  level words, which mark them as log records whose prefix (time, level, source) happens to be aligned.
Timestamps, quoted strings and bracketed fields count as one value each, so the comma in `10:00:00,123` or
the space in `[27/Nov/2026 11:11:00]` is not taken for a column separator.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_HEX_ID = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}\b")
_DIGITS = re.compile(r"\d+")
MIN_LINES = 30
MAX_PATTERN_SHARE = 0.5
_TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")
_LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)\b|\b(error|warning)\b")
# One scan for the common case (most text is no log): a time of day or a level word.
_LOG_SHAPE = re.compile(f"{_TIME_OF_DAY.pattern}|{_LEVEL.pattern}")
MIN_LOG_SHAPE_SHARE = 0.6
TABLE_SAMPLE = 200

# One value each, whatever separators they hold inside: dates and times (ISO, syslog, with fractions and
# zones), quoted strings and bracketed fields.
_ONE_VALUE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d{2}:\d{2}"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r'|"[^"\n]*"|\[[^\]\n]*\]'
)
_DELIMITERS = (",", "\t", ";", "|")
# Share of the lines that must follow a column structure for it to count; a few odd lines (a blank-ish
# separator, a footer) do not hide a table.
TABLE_SHARE = 0.9
# Whitespace columns: at least this many gutters shared by the lines, and padding (a run of two or more
# spaces inside the line) on at least PADDED_SHARE of them, which is what a table printer adds and a
# single-spaced message line lacks.
MIN_GUTTERS = 2
PADDED_SHARE = 0.5
# A header word stands over a column when this share of the rows has a value starting or ending where it does.
HEADER_ALIGN_SHARE = 0.8
_WORD = re.compile(r"\S+")
_NUMBER_CELL = re.compile(r"\s*[-+]?\d[\d.,:]*\s*")


def pattern_of(line: str) -> str:
    return _DIGITS.sub("0", _HEX_ID.sub("x", line))


def detect_log(text: str) -> bool:
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < MIN_LINES or sum(1 for line in lines if _LOG_SHAPE.search(line)) < MIN_LOG_SHAPE_SHARE * len(lines):
        return False
    if len({pattern_of(line) for line in lines}) > MAX_PATTERN_SHARE * len(lines):
        return False
    # A table shows its structure from its first rows on; looking at more only costs time on long logs.
    sample = lines[:TABLE_SAMPLE]
    return not is_table(sample, sum(1 for line in sample if _LEVEL.search(line)) >= MIN_LOG_SHAPE_SHARE * len(sample))


def is_table(lines: Sequence[str], levelled: bool) -> bool:
    """True when the lines are rows of a table rather than log records (see the module docstring)."""
    if has_header(lines):
        return True
    if levelled:
        return False
    masked = [mask_values(line) for line in lines]
    return any(_delimited(masked, d) for d in _DELIMITERS) or _aligned_columns(masked)


def mask_values(line: str) -> str:
    """The line with every timestamp, quoted string and bracketed field turned into one word of equal length."""
    return _ONE_VALUE.sub(lambda m: "0" * len(m.group()), line)


def _delimited(masked: Sequence[str], delimiter: str) -> bool:
    count, lines = Counter(line.count(delimiter) for line in masked).most_common(1)[0]
    return count >= 1 and lines >= TABLE_SHARE * len(masked)


def has_header(lines: Sequence[str]) -> bool:
    """True when the first line names the columns of the rows below it."""
    head = lines[0]
    # A line with a time or a level word is a record, whatever its shape.
    if _LOG_SHAPE.search(head) or not _are_names(head.split()):
        return False
    if sum(1 for line in lines if pattern_of(line) == pattern_of(head)) > 1:
        return False
    rows = [mask_values(line) for line in lines[1:]]
    for delimiter in _DELIMITERS:
        cells = head.split(delimiter)
        matching = sum(1 for row in rows if row.count(delimiter) == len(cells) - 1)
        if len(cells) > 1 and _are_names(cells) and matching >= TABLE_SHARE * len(rows):
            return True
    words = [(m.start(), m.end()) for m in _WORD.finditer(head)]
    starts, ends = _word_edges(rows)
    aligned = sum(1 for start, end in words if max(starts[start], ends[end]) >= HEADER_ALIGN_SHARE * len(rows))
    return len(words) > 1 and aligned == len(words)


def _are_names(cells: Sequence[str]) -> bool:
    # Column names: some hold a letter and none is a value (a number, a time).
    return any(re.search(r"[A-Za-z]", cell) for cell in cells) and not any(_NUMBER_CELL.fullmatch(c) for c in cells)


def _word_edges(rows: Sequence[str]) -> tuple[Counter[int], Counter[int]]:
    starts: Counter[int] = Counter()
    ends: Counter[int] = Counter()
    for row in rows:
        edges = [(m.start(), m.end()) for m in _WORD.finditer(row)]
        starts.update({start for start, _ in edges})
        ends.update({end for _, end in edges})
    return starts, ends


def _aligned_columns(masked: Sequence[str]) -> bool:
    rows = [line.rstrip() for line in masked]
    if sum(1 for row in rows if "  " in row.strip()) < PADDED_SHARE * len(rows):
        return False
    # A gap is a space after the row's indentation; a gutter is a position where nearly every row has one.
    gaps: Counter[int] = Counter()
    for row in rows:
        first = len(row) - len(row.lstrip())
        gaps.update(m.start() for m in re.finditer(" ", row) if m.start() > first)
    columns = sorted(p for p, n in gaps.items() if n >= TABLE_SHARE * len(rows))
    gutters = sum(1 for n, p in enumerate(columns) if n == 0 or columns[n - 1] != p - 1)
    return gutters >= MIN_GUTTERS


def compress_log(text: str) -> str:
    lines = text.split("\n")
    patterns = [pattern_of(line) for line in lines]
    places: dict[str, list[int]] = {}
    for n, (line, pattern) in enumerate(zip(lines, patterns, strict=True)):
        if line.strip():
            places.setdefault(pattern, []).append(n)
    rank = _nonblank_rank(lines)
    identical = {pattern: all(lines[n] == lines[where[0]] for n in where) for pattern, where in places.items()}
    out: list[str] = []
    for n, (line, pattern) in enumerate(zip(lines, patterns, strict=True)):
        if not line.strip():
            if out and out[-1].strip():
                out.append(line)
            continue
        where = places[pattern]
        if n == where[0]:
            out.append(line)
            in_a_row = rank[where[-1]] - rank[where[0]] == len(where) - 1
            out.extend(_repeat_note(len(where), identical[pattern], in_a_row) if len(where) > 1 else [])
        elif n == where[-1] and not identical[pattern]:
            out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def _nonblank_rank(lines: Sequence[str]) -> list[int]:
    rank, seen = [], 0
    for line in lines:
        rank.append(seen)
        seen += 1 if line.strip() else 0
    return rank


def _repeat_note(total: int, identical: bool, in_a_row: bool) -> list[str]:
    # The note never quotes a line out of its place: the last of a pattern that is spread over the output
    # stays where it was, so what happened between the first and the last (an error among repeated requests)
    # still reads before it. Only a run with nothing else inside it is closed by its last line right away.
    if identical:
        return [f"  [x{total} identical lines {'in a row' if in_a_row else 'in all, spread out'}]"]
    if total == 2:
        return []
    if in_a_row:
        return [f"  [x{total} lines like this in a row; the last:]"]
    return [f"  [x{total} lines like this in all, spread out; the last stays in its place below]"]
