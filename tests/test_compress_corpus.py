"""Every filter on the real corpus: the expected filter takes each sample, must-keep lines all survive, and the
unrecognised samples come back unchanged.

The corpus (tests/corpus/tool_outputs/, re-created by bench/capture_tool_outputs.py) holds the outputs of real
commands; index.json names each one's command, folder and exit code. The must-keep rule is written out in
bench/compressor_bench.py's docstring and code, independently of the filters, and the benchmark reports
its count from the same code.
"""

from __future__ import annotations

import json

import pytest

from bench.compressor_bench import (
    CORPUS,
    MIN_CHARS,
    Sample,
    format_row,
    important_lines,
    load_corpus,
    lost_lines,
    measure,
    total,
)
from optmod.compression import FILTER_NAMES, compress_output
from optmod.compression.catalog import select_filter, strip_colours

SAMPLES = load_corpus()
BY_NAME = {sample.name: sample for sample in SAMPLES}


def sample_id(sample: Sample) -> str:
    return sample.name


def test_the_index_describes_every_file_with_its_command_and_exit_code() -> None:
    index = json.loads((CORPUS / "index.json").read_text())
    listed = {entry["file"] for entry in index["samples"]}
    on_disk = {str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*.txt")}
    assert listed == on_disk
    for entry in index["samples"]:
        assert entry["command"] and entry["cwd"] and isinstance(entry["exit_code"], int)


def test_each_family_has_at_least_three_samples() -> None:
    families = [sample.family for sample in SAMPLES]
    for family in ("git", "search", "listing", "build", "logs", "truncate", "unchanged"):
        assert families.count(family) >= 3, family


def test_every_filter_of_the_table_meets_a_real_sample() -> None:
    assert set(FILTER_NAMES) <= {sample.expected_filter for sample in SAMPLES}


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.expected_filter != "none"], ids=sample_id)
def test_the_expected_filter_recognises_the_sample(sample: Sample) -> None:
    chosen = select_filter(strip_colours(sample.text))
    assert chosen is not None
    assert chosen.name == sample.expected_filter


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
def test_no_must_keep_line_is_lost(sample: Sample) -> None:
    result = compress_output(sample.text, MIN_CHARS)
    assert lost_lines(sample, result.text) == []


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.family == "unchanged"], ids=sample_id)
def test_unrecognised_short_and_json_outputs_come_back_unchanged(sample: Sample) -> None:
    result = compress_output(sample.text, MIN_CHARS)
    assert result.text == sample.text
    assert result.filter is None


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.family != "unchanged"], ids=sample_id)
def test_compression_is_a_pure_function_of_the_text(sample: Sample) -> None:
    first = compress_output(sample.text, MIN_CHARS)
    again = compress_output(str(sample.text), MIN_CHARS)
    assert first == again
    # Compressing what was already compressed must not churn it into yet another form on a later turn.
    assert select_filter(first.text) is None or len(compress_output(first.text, MIN_CHARS).text) <= len(first.text)


def test_the_rule_finds_something_to_protect_in_every_failed_run() -> None:
    # A rule that matched nothing would make the loss test pass vacuously.
    failed = [sample for sample in SAMPLES if sample.exit_code != 0]
    assert len(failed) >= 10
    for sample in failed:
        assert important_lines(sample.text), sample.name


def test_the_rule_notices_a_dropped_line() -> None:
    sample = BY_NAME["pytest_more_itertools"]
    summary = sample.text.rstrip("\n").split("\n")[-1]
    assert "failed" in summary
    assert lost_lines(sample, sample.text.replace(summary, "")) == [summary]


def test_the_benchmark_measures_a_sample_and_totals_rows() -> None:
    row = measure(BY_NAME["ls_la_usr_bin"], lambda text: len(text.split()), repeat=1)
    assert row.filter == "ls" and row.lost == 0
    assert row.tokens_after < row.tokens_before and row.bytes_after < row.bytes_before
    both = total("two", [row, row])
    assert both.tokens_before == 2 * row.tokens_before
    assert "| ls |" in format_row("ls", row)
