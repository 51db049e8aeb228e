"""Repetitive logs: lines that differ only in numbers, ids or timestamps are shown once, with a count.

Two lines share a pattern when they are equal after every digit run becomes `0` and every long hex id
becomes `x`. Of each pattern the first and the last line stay verbatim, each in its own place, so the lines
shown are the original lines in their original order (events never read out of order); a note under the
first says how many there were and whether they came in a row or spread over the output. This holds for
identical lines too: only a run with nothing else inside it is told by its first line and the note alone.
A pattern is never merged with a different one, so each distinct warning or error is still there.

What may be merged. A log is a stream of event records: a time of day or a level word (or klog's level
letter, `I1127 10:00:00.123456`), then a message. A table is a grid of values, and there the numbers are the
data: a CSV of readings, a `ps` or `squeue` listing. Both can carry times on every line and differ only in
digits from row to row, so times alone do not tell them apart. The filter declines text that has a table's structure:
- a header row: a first line of names (no values), unique in the text, that splits into the columns of the
  rows below (the same delimiter count, or words standing over the whitespace columns);
- without a header, a consistent column structure: one delimiter (comma, tab, semicolon, pipe) the same
  number of times on nearly every line, or whitespace columns padded to line up - unless the lines carry
  level words, which mark them as log records whose prefix (time, level, source) happens to be aligned.
  A delimiter that occurs once per line counts only when a single value stands on each side of it: a
  message with one comma (`processed batch 5, 3 failed`) has words around it, a two-column CSV does not.
Timestamps, quoted strings and bracketed fields count as one value each, so the comma in `10:00:00,123 ` or
the space in `[27/Nov/2026 11:11:00]` is not taken for a column separator. The `service-1  | ` prefix that
`docker compose logs` puts on every line is set aside before the column checks: its padding and pipe are
the prefix's, not columns of the messages.
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
# Level words, and klog's level letter before its date (`I1127 10:00:00.123456`, Kubernetes components).
_LEVEL = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL)\b|\b(error|warning)\b|^[IWEF]\d{4} \d{2}:\d{2}:\d{2}"
)
# One scan for the common case (most text is no log): a time of day or a level word.
_LOG_SHAPE = re.compile(f"{_TIME_OF_DAY.pattern}|{_LEVEL.pattern}")
# Share of the lines that must carry a time or a level word for the text to be a log at all.
MIN_LOG_SHAPE_SHARE = 0.6
# Share of the lines that must carry a level word for their aligned or delimited prefix to pass for a log's.
MIN_LEVELLED_SHARE = 0.6
# A table shows its structure from its first rows on; looking at more only costs time on long logs.
TABLE_SAMPLE = 200
# `docker compose logs`: a service name (`web-1`, `app_web_1`) padded to a common width, then `| `.
_COMPOSE_PREFIX = re.compile(r"^[A-Za-z0-9][\w.-]*[-_]\d+ +\| ")

# Fractions of a second: `.123456`, or Python logging's `,123` and the space after it. A comma with anything
# else after it (`10:00:00,5.3`, `10:00:00,123` at the end of a line) separates a next value.
_FRACTION = r"(?:\.\d+|,\d{3}(?= ))?"
# One value each, whatever separators they hold inside: dates and times (ISO, syslog, with fractions and
# zones), quoted strings and bracketed fields.
_ONE_VALUE = re.compile(
    rf"\d{{4}}-\d{{2}}-\d{{2}}[T ]\d{{1,2}}:\d{{2}}:\d{{2}}{_FRACTION}(?:Z|[+-]\d{{2}}:?\d{{2}})?"
    r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d{2}:\d{2}"
    rf"|\b\d{{1,2}}:\d{{2}}:\d{{2}}{_FRACTION}"
    r'|"[^"\n]*"|\[[^\]\n]*\]'
)
_DELIMITERS = (",", "\t", ";", "|")
# One side of a single delimiter that holds one value, as a cell of a two-column table does.
_ONE_WORD = re.compile(r"\s*\S+\s*")
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


def _pattern_of(line: str) -> str:
    return _DIGITS.sub("0", _HEX_ID.sub("x", line))


def detect_log(text: str) -> bool:
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < MIN_LINES or sum(1 for line in lines if _LOG_SHAPE.search(line)) < MIN_LOG_SHAPE_SHARE * len(lines):
        return False
    if len({_pattern_of(line) for line in lines}) > MAX_PATTERN_SHARE * len(lines):
        return False
    sample = [_COMPOSE_PREFIX.sub("", line) for line in lines[:TABLE_SAMPLE]]
    levelled = sum(1 for line in sample if _LEVEL.search(line)) >= MIN_LEVELLED_SHARE * len(sample)
    return not _is_table(sample, levelled=levelled)


def _is_table(lines: Sequence[str], *, levelled: bool) -> bool:
    # See the module docstring: a header row decides alone; without one, level words outweigh columns.
    if _has_header(lines):
        return True
    if levelled:
        return False
    masked = [_mask_values(line) for line in lines]
    return any(_delimited(masked, d) for d in _DELIMITERS) or _aligned_columns(masked)


def _mask_values(line: str) -> str:
    """The line with every timestamp, quoted string and bracketed field turned into one word of equal length."""
    return _ONE_VALUE.sub(lambda m: "0" * len(m.group()), line)


def _delimited(masked: Sequence[str], delimiter: str) -> bool:
    count, lines = Counter(line.count(delimiter) for line in masked).most_common(1)[0]
    if count == 1:
        lines = sum(1 for line in masked if _splits_in_two_values(line, delimiter))
    return count >= 1 and lines >= TABLE_SHARE * len(masked)


def _splits_in_two_values(line: str, delimiter: str) -> bool:
    sides = line.split(delimiter)
    return len(sides) == 2 and all(_ONE_WORD.fullmatch(side) for side in sides)


def _has_header(lines: Sequence[str]) -> bool:
    """True when the first line names the columns of the rows below it."""
    head = lines[0]
    # A line with a time or a level word is a record, whatever its shape.
    if _LOG_SHAPE.search(head) or not _are_names(head.split()):
        return False
    if sum(1 for line in lines if _pattern_of(line) == _pattern_of(head)) > 1:
        return False
    rows = [_mask_values(line) for line in lines[1:]]
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
    patterns = [_pattern_of(line) for line in lines]
    places: dict[str, list[int]] = {}
    for n, (line, pattern) in enumerate(zip(lines, patterns, strict=True)):
        if line.strip():
            places.setdefault(pattern, []).append(n)
    rank = _nonblank_rank(lines)
    identical = {pattern: all(lines[n] == lines[where[0]] for n in where) for pattern, where in places.items()}
    out: list[str] = []
    # Until this line, the lines are the rest of a run whose note ends in "the last:"; blank lines inside the
    # run go with it, so its last line follows the note directly.
    run_end = -1
    for n, (line, pattern) in enumerate(zip(lines, patterns, strict=True)):
        if not line.strip():
            if out and out[-1].strip() and n > run_end:
                out.append(line)
            continue
        where = places[pattern]
        in_a_row = rank[where[-1]] - rank[where[0]] == len(where) - 1
        if n == where[0]:
            out.append(line)
            out.extend(_repeat_note(len(where), identical[pattern], in_a_row) if len(where) > 1 else [])
            run_end = where[-1] if in_a_row and not identical[pattern] and len(where) > 2 else run_end
        elif n == where[-1] and not (identical[pattern] and in_a_row):
            out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def _nonblank_rank(lines: Sequence[str]) -> list[int]:
    rank, seen = [], 0
    for line in lines:
        rank.append(seen)
        seen += 1 if line.strip() else 0
    return rank


def _repeat_note(total: int, identical: bool, in_a_row: bool) -> list[str]:
    # The note never quotes a line out of its place: the last of a pattern that is spread over the output,
    # identical or not, stays where it was, so what happened between the first and the last (an error among
    # repeated requests) still reads before it. A run with nothing else inside it is closed by its last line
    # right away, or, when all its lines are the same, by the note alone.
    if identical and in_a_row:
        return [f"  [x{total} identical lines in a row]"]
    # Otherwise the first and the last are shown: of two lines, a note would only repeat them.
    if total == 2:
        return []
    if in_a_row:
        return [f"  [x{total} lines like this in a row; the last:]"]
    kind = "identical lines" if identical else "lines like this"
    return [f"  [x{total} {kind} in all, spread out; the last stays in its place below]"]
