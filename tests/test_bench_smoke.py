"""The proxy benchmark's CI smoke: `python -m bench.run --quick` runs end to end and writes its results.

It checks that the harness works (processes start, every request is answered, the figures are filled in and
the files are written), never how fast anything was: timings on a shared CI machine mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from bench.proxy_bench.loadgen import Target, build_body
from bench.proxy_bench.report import Row, build_rows, render_tables
from bench.proxy_bench.scenarios import RunResult
from bench.proxy_bench.services import REPO_ROOT


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--name", "smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((out / "smoke.json").read_text())
    return report, (out / "smoke.md").read_text()


def test_quick_run_answers_every_request_through_each_target(quick_report: tuple[dict[str, Any], str]) -> None:
    report, _ = quick_report
    runs = report["runs"]
    assert {r["target"] for r in runs} == {"direct", "optmod_rule_based", "optmod_perf_router"}
    assert {r["scenario"] for r in runs} == {
        "0ms/json/small/c1",
        "0ms/json/small/c16",
        "0ms/stream20/small/c1",
        "0ms/stream20/small/c16",
    }
    for run in runs:
        load = run["load"]
        assert load["errors"] == 0 and load["ok"] == load["measured"] > 0, run
        assert set(load["statuses"]) == {"200"}
        if "/stream20/" in run["scenario"]:
            # 20 content chunks, the finish chunk and [DONE], at least; each one a whole SSE event.
            assert load["events_per_response"] >= 21
        if run["target"] != "direct":
            assert run["proxy_cpu_s"] is not None and run["proxy_rss_bytes"] > 0


def test_quick_run_writes_rows_checks_and_markdown(quick_report: tuple[dict[str, Any], str]) -> None:
    report, markdown = quick_report
    rows = {(r["scenario"], r["target"]): r for r in report["rows"]}
    optmod = rows[("0ms/json/small/c1", "optmod_rule_based")]
    assert optmod["rps"] > 0 and optmod["rps_ratio"] is not None and optmod["added_p50_ms"] is not None
    stream = rows[("0ms/stream20/small/c1", "optmod_rule_based")]
    assert stream["ttfb_p50_ms"] is not None and stream["added_ttfb_p50_ms"] is not None
    assert report["meta"]["perf_router_status"]["0ms/20"]["requested"] == "perf_router"
    assert len(report["checks"]) == 9
    assert "| 0ms/json/small/c1 | optmod_rule_based |" in markdown
    assert "## Targets" in markdown


def _run(target: str, round_index: int, rps: float, p50: float, cpu: float | None = None) -> RunResult:
    load = {
        "sent": 100,
        "measured": 100,
        "ok": 100,
        "errors": 0,
        "rps": rps,
        "latency_ms": {"p50": p50, "p90": p50, "p99": p50 * 2},
        "ttfb_ms": {"p50": p50, "p99": p50},
        "events_per_response": 0.0,
        "loadgen_cpu_us_per_request": 30.0,
    }
    return RunResult("0ms/json/small/c1", target, round_index, load, proxy_cpu_s=cpu, proxy_rss_bytes=1 << 20)


def test_added_latency_pairs_each_proxy_run_with_the_direct_run_of_its_round() -> None:
    runs = [
        _run("direct", 0, 1000.0, 1.0),
        _run("optmod_rule_based", 0, 900.0, 1.5, cpu=0.05),
        _run("direct", 1, 500.0, 3.0),
        _run("optmod_rule_based", 1, 400.0, 3.3, cpu=0.03),
    ]
    rows = {row.target: row for row in build_rows(runs)}
    optmod: Row = rows["optmod_rule_based"]
    assert optmod.added_p50_ms == pytest.approx(0.4)  # median of +0.5 and +0.3
    assert optmod.rps_ratio == pytest.approx((0.9 + 0.8) / 2)
    assert optmod.cpu_ms_per_request == pytest.approx(0.4)  # 80 ms over 200 requests
    assert rows["direct"].added_p50_ms is None
    assert "| 0ms/json/small/c1 | optmod_rule_based |" in render_tables(list(rows.values()))


def test_load_generator_refuses_non_loopback_targets() -> None:
    assert Target.parse("http://127.0.0.1:9/v1/chat/completions").port == 9
    with pytest.raises(SystemExit):
        Target.parse("http://10.0.0.1:80/v1/chat/completions")


def test_bodies_are_distinct_conversations_of_the_asked_size() -> None:
    small, large = build_body(1, 0, False, "m"), build_body(2, 30_000, True, "m")
    assert small != build_body(2, 0, False, "m")
    assert 30_000 < len(large) < 31_000
    assert json.loads(large)["stream"] is True
