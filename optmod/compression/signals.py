"""Lines that no filter may drop or rewrite: errors, warnings, path:line references, summaries, exit codes.

Every filter asks `is_signal` before dropping a line it would otherwise treat as noise, so a warning printed
in the middle of a build log or a `file.py:12` reference inside a captured log survives verbatim. The
patterns describe the shape of such lines (a severity word at the start or after a location, a location
with a line number), not the wording of particular messages.
"""

from __future__ import annotations

import re

# A severity word standing on its own: not part of an identifier (ValueError, test_error) or a file name
# (errors.py, warnings/): those name things, they do not report them.
_SEVERITY = re.compile(
    r"(?<![\w/])(error|errors|warning|warnings|warn|fatal|critical|panic|panicked|exception|traceback|"
    r"failed|failure|failures|fail|assertionerror|segmentation fault|abort(ed)?|denied|not found|"
    r"cannot|can't|could not|unable to)\b(?![./]\w)",
    re.IGNORECASE,
)
# path:line, path:line:col, path(line,col), 'File "path", line N' and ' --> path:line:col'.
# The lookbehind starts a match only where a path starts, which keeps the scan linear on long lines.
_PATH_LINE = re.compile(
    r"(?<![\w./\\-])(?:[\w./\\-]+\.[A-Za-z0-9]{1,10}|[\w./\\-]*/[\w.-]+)(?::\d+(?::\d+)?\b|\(\d+,\d+\))|"
    r'File "[^"]+", line \d+'
)
_EXIT_CODE = re.compile(r"\b(exit(ed)?( with)?( status| code)?|return(ed)? code|status)[\s:=]+-?\d+\b", re.I)


# One alternation: a single scan per line instead of three, since every filter asks this of every line.
_SIGNAL = re.compile("|".join(f"(?:{p.pattern})" for p in (_SEVERITY, _PATH_LINE, _EXIT_CODE)), re.IGNORECASE)


def is_signal(line: str) -> bool:
    """True for a line that must reach the model verbatim, whatever filter handles the output."""
    return _SIGNAL.search(line) is not None
