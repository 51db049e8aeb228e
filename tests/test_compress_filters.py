"""What each filter does to its kind of output, checked on the real corpus samples (tests/corpus/tool_outputs)."""

from __future__ import annotations

import json
import re

import pytest

from bench.compressor_bench import CORPUS
from optmod.compression import compress_output
from optmod.compression.catalog import select_filter

MIN = 800


def sample(path: str) -> str:
    return (CORPUS / path).read_text()


def compressed(path: str) -> str:
    return compress_output(sample(path), MIN).text


HUNK = re.compile(r"^@@ -(\d+),(\d+) \+(\d+),(\d+) @@")


def hunks(diff: str) -> list[tuple[tuple[int, int, int, int], list[str]]]:
    found: list[tuple[tuple[int, int, int, int], list[str]]] = []
    for line in diff.split("\n"):
        header = HUNK.match(line)
        if header:
            numbers = (int(header[1]), int(header[2]), int(header[3]), int(header[4]))
            found.append((numbers, []))
        elif found and line[:1] in (" ", "+", "-", "~") and not line.startswith(("+++", "---")):
            found[-1][1].append(line)
        elif line.startswith(("diff --git", "commit ")):
            found.append(((0, 0, 0, 0), []))
    return [h for h in found if h[0] != (0, 0, 0, 0)]


def test_diff_hunks_are_recounted_so_every_header_matches_its_body() -> None:
    out = compressed("git/git_diff_stat_patch_jq.txt")
    assert hunks(out)
    for (_, old_count, _, new_count), body in hunks(out):
        assert sum(1 for line in body if line[0] in " -") == old_count
        assert sum(1 for line in body if line[0] in " +") == new_count


def test_diff_keeps_one_line_of_context_and_drops_index_lines() -> None:
    original = sample("git/git_diff_more_itertools.txt")
    out = compressed("git/git_diff_more_itertools.txt")
    assert "\nindex " in original and "\nindex " not in out
    assert out.count("\n+++ ") == 0
    for _, body in hunks(out):
        leading = len(body) - len(body_without_leading_context(body))
        assert leading <= 1


def body_without_leading_context(body: list[str]) -> list[str]:
    for n, line in enumerate(body):
        if line[0] != " ":
            return body[n:]
    return []


def test_a_long_run_of_added_lines_keeps_head_and_tail_and_says_how_many_went() -> None:
    original = sample("git/git_log_patch_routing.txt")
    out = compressed("git/git_log_patch_routing.txt")
    markers = re.findall(r"^~ (\d+) added lines omitted ~$", out, re.MULTILINE)
    assert markers
    added_before = sum(1 for line in original.split("\n") if line.startswith("+") and not line.startswith("+++"))
    added_after = sum(1 for line in out.split("\n") if line.startswith("+") and not line.startswith("+++"))
    assert added_before - added_after == sum(int(m) for m in markers)


def test_git_status_lists_every_path_once_without_the_hints() -> None:
    original = sample("git/git_status_jq_build.txt")
    out = compressed("git/git_status_jq_build.txt")
    assert '(use "git' not in out
    for line in original.split("\n"):
        if line.startswith("\t"):
            name = line.split(":", 1)[-1].strip().rstrip("/").rsplit("/", 1)[-1]
            assert name in out
    assert "M src/builtin.c" in out


def test_pytest_keeps_failures_and_the_summary_and_counts_the_passes() -> None:
    original = sample("build/pytest_more_itertools.txt")
    out = compressed("build/pytest_more_itertools.txt")
    passed = sum(1 for line in original.split("\n") if re.search(r"::\S+ PASSED", line))
    assert " PASSED " not in out
    assert original.count(" FAILED ") == out.count(" FAILED ")
    assert original.rstrip().split("\n")[-1] in out
    note = re.search(r"\[optmod: omitted (\d+) passed or skipped test lines", out)
    assert note and int(note.group(1)) >= passed


def test_unittest_drops_ok_lines_and_keeps_fail_blocks() -> None:
    original = sample("build/unittest_make_test.txt")
    out = compressed("build/unittest_make_test.txt")
    assert " ... ok\n" not in out
    assert out.count("\nFAIL: ") == original.count("\nFAIL: ") > 0
    assert re.search(r"^Ran \d+ tests in", out, re.MULTILINE)
    assert "make: *** [Makefile" in out


def test_cargo_keeps_every_panic_and_drops_repeated_std_frames() -> None:
    original = sample("build/cargo_test_roman.txt")
    out = compressed("build/cargo_test_roman.txt")
    panics = [line for line in original.split("\n") if "panicked at" in line]
    assert panics and all(line in out for line in panics)
    assert "test result: FAILED" in out
    assert "... ok\n" not in out
    assert len(out) < len(original) / 2


def test_go_test_drops_run_and_pass_lines_and_keeps_the_failures() -> None:
    original = sample("build/go_test_wordstat.txt")
    out = compressed("build/go_test_wordstat.txt")
    assert "=== RUN" not in out and "--- PASS" not in out
    assert out.count("--- FAIL") == original.count("--- FAIL") > 0


def test_jest_keeps_failed_tests_under_their_describe_titles() -> None:
    original = sample("build/jest_helpers.txt")
    out = compressed("build/jest_helpers.txt")
    assert "✓" in original and "✓" not in out
    assert out.count("✕") == original.count("✕") > 0
    assert "  formatCents\n    ✕" in out
    assert "  daysBetween\n" not in out  # all of its tests passed
    assert re.search(r"^Tests: .*failed", out, re.MULTILINE)


def test_ruff_keeps_each_finding_and_drops_code_frames() -> None:
    original = sample("build/ruff_select_all_recipes.txt")
    out = compressed("build/ruff_select_all_recipes.txt")
    arrows = [line for line in original.split("\n") if line.strip().startswith("--> ")]
    assert arrows and all(line in out for line in arrows)
    frames_before = len(re.findall(r"^\s*\d+ \|", original, re.MULTILINE))
    frames_after = len(re.findall(r"^\s*\d+ \|", out, re.MULTILINE))
    assert frames_after < frames_before / 50  # the few left quote a line that itself reads like an error


def test_build_log_drops_compiler_commands_but_not_the_end_of_the_run() -> None:
    out = compressed("build/make_jq.txt")
    assert "libtool: compile:" not in out
    assert "Leaving directory" not in out
    assert "[optmod: omitted" in out


def test_ls_keeps_every_name_and_drops_dates_and_owners() -> None:
    original = sample("listing/ls_la_usr_bin.txt")
    out = compressed("listing/ls_la_usr_bin.txt")
    assert " root root " not in out
    assert not re.search(r"\b[A-Z][a-z]{2} +\d+ \d\d:\d\d\b", out)
    for line in original.split("\n")[1:]:
        name = line.split(None, 8)[-1].split(" -> ")[0] if line else ""
        if name:
            assert name in out


def test_tree_keeps_its_summary_and_loses_the_box_drawing() -> None:
    original = sample("listing/tree_usr_share_doc_L2.txt")
    out = compressed("listing/tree_usr_share_doc_L2.txt")
    assert "├── " not in out and "│" not in out
    assert original.rstrip().split("\n")[-1] in out


NOTE = re.compile(r"^  \[x(\d+) (identical lines|lines like this) (in a row|in all, spread out)(; .*)?\]$")


def shown_lines(out: str) -> list[str]:
    return [line for line in out.rstrip("\n").split("\n") if line.strip() and not NOTE.match(line)]


def is_in_order(shown: list[str], original: list[str]) -> bool:
    rest = iter(original)
    return all(any(line == candidate for candidate in rest) for line in shown)


@pytest.mark.parametrize("name", ["http_server_access_log", "uvicorn_app_log", "jq_error_spam"])
def test_log_dedup_counts_every_repeat_and_keeps_the_order_of_the_lines(name: str) -> None:
    original = [line for line in sample(f"logs/{name}.txt").split("\n") if line.strip()]
    result = compress_output(sample(f"logs/{name}.txt"), MIN)
    assert result.filter == "log_dedup"
    notes = [m for m in map(NOTE.match, result.text.split("\n")) if m]
    # A note with a tail ("the last:", "the last stays in its place below") has the last of its lines shown too.
    left_out = sum(int(m.group(1)) - (2 if m.group(4) else 1) for m in notes)
    shown = shown_lines(result.text)
    assert notes and len(shown) + left_out == len(original)
    assert is_in_order(shown, original)
    assert len(shown) + len(notes) < 25


def test_an_error_between_repeated_lines_reads_before_the_last_of_them() -> None:
    # Requests every 5 s from 10:00:00 to 10:03:15, an error at 10:02:03, one more request at 10:03:19.
    times = [f"10:{s // 60:02d}:{s % 60:02d}" for s in range(0, 200, 5)]
    lines = [f"2026-11-27 {t} INFO worker: GET /jobs/{n} 200 in {3 + n % 7}ms" for n, t in enumerate(times)]
    lines.insert(25, "2026-11-27 10:02:03 ERROR worker: lost the connection to the queue, retrying")
    lines.append("2026-11-27 10:03:19 INFO worker: GET /jobs/99 200 in 4ms")
    result = compress_output("\n".join(lines) + "\n", MIN)
    assert result.filter == "log_dedup"
    shown = [line for line in result.text.split("\n") if line in set(lines)]
    assert is_in_order(shown, lines)
    assert shown.index(lines[25]) < shown.index(lines[-1])
    notes = [line for line in result.text.split("\n") if NOTE.match(line)]
    assert notes and not any(re.search(r"\d:\d\d:\d\d", note) for note in notes)


def test_the_last_of_identical_lines_spread_out_stays_after_the_error_between_them() -> None:
    retry = "WARNING client: upstream busy, retrying"
    error = "ERROR client: gave up after 20 retries"
    result = compress_output("\n".join([*[retry] * 20, error, *[retry] * 20]) + "\n", MIN)
    assert result.filter == "log_dedup"
    assert shown_lines(result.text) == [retry, error, retry]
    notes = [m for m in map(NOTE.match, result.text.split("\n")) if m]
    assert [(m.group(1), m.group(2), m.group(3)) for m in notes] == [("40", "identical lines", "in all, spread out")]
    assert notes[0].group(4)


def test_a_run_broken_by_blank_lines_is_closed_by_its_last_line_right_under_the_note() -> None:
    lines = [f"2026-11-27 10:00:{n:02d} INFO worker: tick {n}" for n in range(40)]
    out = compress_output("\n\n".join(lines) + "\n", MIN).text.split("\n")
    note = next(n for n, line in enumerate(out) if NOTE.match(line))
    assert out[note + 1] == lines[-1]


def hourly_readings_csv() -> tuple[list[str], str]:
    rows = [f"2026-11-27 {h % 24:02d}:00:00,s{1 + h // 24},{5 + (h * 7) % 13 + (h % 3) / 10:.1f}" for h in range(48)]
    return rows, "\n".join(["timestamp,sensor,temp_c", *rows]) + "\n"


def process_listing(header: str | None) -> tuple[list[str], str]:
    rows = [
        f"{1000 + n:>7} pts/{n % 3:<4} {f'00:{n // 60:02d}:{(n * 7) % 60:02d}':>8} python worker_{n}.py --shard {n}"
        for n in range(80)
    ]
    return rows, "\n".join([header, *rows] if header else rows) + "\n"


def node_load_tsv() -> tuple[list[str], str]:
    # The node comes first: a line that starts with a time is taken for grep output (path "09", line 00).
    rows = [
        f"node{n % 4}\t{n // 60 + 9:02d}:{n % 60:02d}:{(n * 13) % 60:02d}\t{(n * 37) % 100 / 10:.1f}\t{n * 3}"
        for n in range(60)
    ]
    return rows, "\n".join(rows) + "\n"


def time_first_tsv() -> tuple[list[str], str]:
    # Starting with `09:00:00` once made the grep filter read each row as file 09, line 00.
    rows = [f"{9 + n // 60:02d}:{n % 60:02d}:00\tnode{n % 4}\t{(n * 37) % 100 / 10:.1f}\t{n * 3}" for n in range(60)]
    return rows, "\n".join(rows) + "\n"


def iso_first_tsv() -> tuple[list[str], str]:
    # An ISO date once passed for a grep path: `2026-11-27T09` as the file, the minutes as the line.
    rows = [f"2026-11-27T{9 + n // 60:02d}:{n % 60:02d}:00Z\tnode{n % 4}\t{(n * 37) % 100 / 10:.1f}" for n in range(60)]
    return rows, "\n".join(rows) + "\n"


def job_queue_table() -> tuple[list[str], str]:
    header = "  JOBID PARTITION     NAME     USER ST       TIME  NODES"
    rows = [
        f"{4100 + n:>7} {'gpu' if n % 2 else 'batch':>9} {f'train_{n}':>8} {'alice':>8} {'R':>2} "
        f"{f'{n // 10}:{n % 60:02d}:{(n * 11) % 60:02d}':>10} {1 + n % 2:>6}"
        for n in range(50)
    ]
    return rows, "\n".join([header, *rows]) + "\n"


def level_counts_csv() -> tuple[list[str], str]:
    # Rows with level words read as log records; only the header says they are a table.
    levels = ("INFO", "WARNING", "ERROR")
    rows = [f"2026-11-27 {h % 24:02d}:00:00,{levels[h % 3]},{(h * 37) % 91}" for h in range(48)]
    return rows, "\n".join(["time,level,count", *rows]) + "\n"


def level_counts_aligned() -> tuple[list[str], str]:
    levels = ("INFO", "WARNING", "ERROR")
    rows = [f"{h % 24:02d}:00:00  {levels[h % 3]:<8} {(h * 37) % 91:>6}" for h in range(48)]
    return rows, "\n".join(["TIME      LEVEL     COUNT", *rows]) + "\n"


def readings_without_header() -> tuple[list[str], str]:
    # One comma per line, but a value on each side of it: a two-column CSV, not a sentence.
    rows = [f"2026-11-27 {h % 24:02d}:{h // 24:02d}:00,{5 + (h * 7) % 13 + (h % 3) / 10:.1f}" for h in range(60)]
    return rows, "\n".join(rows) + "\n"


TABLES = {
    "a CSV under a header whose rows carry level words": level_counts_csv,
    "an aligned table under a header whose rows carry level words": level_counts_aligned,
    "a two-column CSV of times and readings without a header": readings_without_header,
    "a CSV of hourly readings with a header": hourly_readings_csv,
    "a ps listing, header as typed": lambda: process_listing("PID TTY TIME CMD"),
    "a ps listing, header as ps aligns it": lambda: process_listing("    PID TTY          TIME CMD"),
    "a ps listing without its header": lambda: process_listing(None),
    "a TSV with times and no header": node_load_tsv,
    "a TSV whose rows start with the time": time_first_tsv,
    "a TSV whose rows start with an ISO time": iso_first_tsv,
    "a whitespace table with times under a header": job_queue_table,
}


@pytest.mark.parametrize("kind", list(TABLES))
def test_every_row_of_a_table_with_times_survives(kind: str) -> None:
    rows, text = TABLES[kind]()
    result = compress_output(text, MIN)
    assert result.filter != "log_dedup"
    kept = set(result.text.split("\n"))
    assert [row for row in rows if row not in kept] == []


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-27 10:{m:02d}:{s:02d},{n:03d} INFO worker: done batch {n}, {s} items",  # Python logging
        "Nov  7 10:{m:02d}:{s:02d} host cron[{n}]: (root) CMD (run-parts /etc/cron.hourly)",  # syslog
        "[2026-11-27 10:{m:02d}:{s:02d}] worker.INFO: request {n} took {s} ms, status 200",
    ],
)
def test_a_repetitive_log_with_commas_or_padding_in_its_prefix_still_compresses(line: str) -> None:
    lines = [line.format(m=n // 60, s=n % 60, n=n) for n in range(120)]
    result = compress_output("\n".join(lines) + "\n", MIN)
    assert result.filter == "log_dedup"
    assert lines[0] in result.text and lines[-1] in result.text


def klog_lines() -> list[str]:
    # Kubernetes components pad the thread id, which once looked like aligned columns.
    return [
        f"I1127 10:{n // 60:02d}:{n % 60:02d}.{(n * 7919) % 1000000:06d}       1 controller.go:{100 + n % 3}] "
        f"Reconciled object default/job-{n}"
        for n in range(60)
    ]


def compose_lines() -> list[str]:
    # docker compose logs: the service name padded to a common width, then `| `, and no level words.
    return [
        f"{'web-1' if n % 3 else 'worker-1':<8}  | 2026/11/27 10:{n // 60:02d}:{n % 60:02d} handled request {n} in {n % 9}ms"
        for n in range(60)
    ]


COMMON_LOGS = {
    "a Kubernetes component log": klog_lines,
    "messages with one comma each": lambda: [
        f"10:{n // 60:02d}:{n % 60:02d} processed batch {n}, {n % 5} failed" for n in range(60)
    ],
    "docker compose logs": compose_lines,
}


@pytest.mark.parametrize("kind", list(COMMON_LOGS))
def test_a_common_log_shape_is_deduplicated_and_not_taken_for_a_table(kind: str) -> None:
    lines = COMMON_LOGS[kind]()
    result = compress_output("\n".join(lines) + "\n", MIN)
    assert result.filter == "log_dedup"
    shown = shown_lines(result.text)
    assert lines[0] in shown and lines[-1] in shown and len(shown) < 10


@pytest.mark.parametrize("stamp", ["2026-11-27T10:{m:02d}:{s:02d}Z", "[2026-11-27T10:{m:02d}:{s:02d}+00:00]"])
def test_an_iso_stamped_log_is_no_grep_output_and_keeps_its_one_error(stamp: str) -> None:
    lines = [stamp.format(m=n // 2 // 60, s=n // 2 % 60) + f" INFO worker: request {n} served" for n in range(300)]
    lines[150] = stamp.format(m=1, s=15) + " ERROR worker: database connection refused"
    result = compress_output("\n".join(lines) + "\n", MIN)
    assert result.filter == "log_dedup"
    assert lines[150] in result.text.split("\n")


def test_truncation_keeps_head_tail_and_says_how_many_lines_went() -> None:
    original = sample("truncate/cat_argparse.txt").split("\n")
    out = compressed("truncate/cat_argparse.txt").split("\n")
    assert out[:60] == original[:60]
    assert out[-40:] == original[-40:]
    omitted = sum(int(m.group(1)) for m in map(re.compile(r"^\[\.\.\. (\d+) lines omitted \.\.\.\]$").match, out) if m)
    kept = sum(1 for line in out if not line.startswith("[... "))
    assert omitted + kept == len(original)


def test_colour_codes_go_when_a_filter_rewrites_the_text() -> None:
    plain = sample("build/pytest_more_itertools.txt")
    coloured = plain.replace(" FAILED ", " \x1b[31mFAILED\x1b[0m ").replace(" PASSED ", " \x1b[32mPASSED\x1b[0m ")
    result = compress_output(coloured, MIN)
    assert result.filter == "pytest"
    assert "\x1b[" not in result.text
    assert result.text == compress_output(plain, MIN).text


def test_json_that_holds_tool_output_is_left_for_the_program_that_parses_it() -> None:
    run = sample("build/pytest_more_itertools.txt")
    assert compress_output(run, MIN).filter == "pytest"
    for payload in (json.dumps({"stdout": run, "exit_code": 1}), json.dumps(run.split("\n"), indent=1)):
        assert compress_output(payload, MIN).text == payload


def test_a_filter_that_cannot_save_enough_leaves_the_text_alone() -> None:
    text = sample("build/mypy_strict_more_itertools_tests.txt")
    assert select_filter(text) is not None
    result = compress_output(text, MIN)
    assert result.filter is None and result.text == text


def test_progress_bar_redraws_keep_only_their_last_state() -> None:
    run = sample("build/pytest_more_itertools.txt")
    lines = run.split("\n")
    at = lines.index(next(line for line in lines if "collected" in line))
    redrawn = "\n".join([*lines[:at], "collecting 0 items\rcollecting 300 items\r" + lines[at], *lines[at + 1 :]])
    assert compress_output(redrawn, MIN).text == compress_output(run, MIN).text


def test_a_table_whose_rows_differ_only_in_numbers_is_not_taken_for_a_log() -> None:
    # The sizes column of a real listing, as a CSV an agent might cat: the numbers are the data.
    rows = [line.split()[4] for line in sample("listing/ls_la_usr_bin.txt").split("\n")[3:] if line]
    csv = "\n".join(f"{n},size,{size}" for n, size in enumerate(rows)) + "\n"
    chosen = select_filter(csv)
    assert len(rows) > 500
    assert chosen is None or chosen.name == "truncate"


PYTEST_HEAD = "============================= test session starts ==============================\ncollected 3 items\n\n"
RUFF_FINDING = "E501 line too long\n  --> a.py:1:1\n"
# Inputs on which a pattern that can backtrack across lines or runs takes time growing with the square of the
# size: at 200k characters each took minutes, in the event loop, with every other client waiting. Linear
# patterns finish them in milliseconds; this test has no timing assertion, a regression shows as a hang.
PATHOLOGICAL = {
    "a tool output of blank lines": "x\n" + "\n" * 200_000 + "x",
    "blank lines with a space each": "x\n" + " \n" * 100_000 + "x",
    "a caret line in ruff output": RUFF_FINDING * 3 + "^" * 200_000 + "x\n" + RUFF_FINDING * 3,
    "a run of colons in pytest output": PYTEST_HEAD + "tests/a.py::t PASSED\n" * 40 + "a::b" + ":" * 200_000 + "\n",
    "a git stat line of spaces": "diff --git a/x b/x\n" + " a" + " " * 200_000 + "x\n",
}


@pytest.mark.parametrize("kind", list(PATHOLOGICAL))
def test_pathological_outputs_are_handled_in_linear_time(kind: str) -> None:
    text = PATHOLOGICAL[kind]
    result = compress_output(text, MIN)
    assert len(result.text) <= len(text)
