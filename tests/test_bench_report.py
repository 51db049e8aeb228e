"""The benchmark report's target checks: honest about failed requests and about physically bounded ratios."""

from __future__ import annotations

from bench.proxy_bench.report import Check, build_rows, check_targets, render_tables
from bench.proxy_bench.scenarios import RunResult


def make_run(
    scenario: str, target: str, rps: float, p99: float, *, ok: int = 100, errors: int = 0, cpu: float = 0.1
) -> RunResult:
    load = {
        "sent": ok + errors,
        "measured": ok + errors,
        "ok": ok,
        "errors": errors,
        "rps": rps,
        "latency_ms": {"p50": p99 / 2 if ok else float("nan"), "p90": p99, "p99": p99 if ok else float("nan")},
        "ttfb_ms": {"p50": float("nan"), "p99": float("nan")},
        "events_per_response": 0.0,
        "loadgen_cpu_us_per_request": 30.0,
    }
    return RunResult(scenario, target, 0, load, proxy_cpu_s=None if target == "direct" else cpu, proxy_rss_bytes=1)


def check_named(checks: list[Check], start: str) -> Check:
    return next(c for c in checks if c.target.startswith(start))


def c256_runs(lite_ok: int, lite_errors: int, optmod_errors: int = 0) -> list[RunResult]:
    scenario = "0ms/stream200/30k/c256"
    return [
        make_run(scenario, "direct", 2600.0, 100.0),
        make_run(scenario, "optmod_rule_based", 630.0, 450.0, errors=optmod_errors),
        make_run(scenario, "litellm", 0.0 if not lite_ok else 1.0, 14_000.0, ok=lite_ok, errors=lite_errors),
    ]


def test_litellm_failing_every_request_counts_as_won_and_says_how_many_failed() -> None:
    rows = build_rows(c256_runs(lite_ok=0, lite_errors=433))
    check = check_named(check_targets(rows, None), "lower p99")
    assert check.met is True
    assert "433 of 433" in check.figure and "0ms/stream200/30k/c256" in check.figure
    table = render_tables(rows)
    litellm_line = next(line for line in table.splitlines() if "| litellm |" in line)
    assert "all failed" in litellm_line and "**433** of 433" in litellm_line


def test_optmod_failing_requests_loses_the_scenario_even_with_a_lower_p99() -> None:
    rows = build_rows(c256_runs(lite_ok=100, lite_errors=0, optmod_errors=3))
    check = check_named(check_targets(rows, None), "lower p99")
    assert check.met is False
    assert "optmod failed 3" in check.figure


def test_a_higher_p99_without_errors_still_loses() -> None:
    scenario = "0ms/json/small/c1"
    runs = [
        make_run(scenario, "direct", 4000.0, 0.5),
        make_run(scenario, "optmod_rule_based", 1000.0, 12.0),
        make_run(scenario, "litellm", 100.0, 11.0),
    ]
    check = check_named(check_targets(build_rows(runs), None), "lower p99")
    assert check.met is False and "lost: 0ms/json/small/c1" in check.figure


def c64_runs(instant_optmod_rps: float) -> list[RunResult]:
    return [
        make_run("50ms/json/small/c64", "direct", 1195.0, 55.0),
        make_run("50ms/json/small/c64", "optmod_rule_based", 1083.0, 75.0),
        make_run("50ms/json/small/c64", "litellm", 104.0, 900.0),
        make_run("0ms/json/small/c64", "direct", 9500.0, 10.0),
        make_run("0ms/json/small/c64", "optmod_rule_based", instant_optmod_rps, 50.0),
        make_run("0ms/json/small/c64", "litellm", 100.0, 880.0),
    ]


def test_req_s_factor_is_judged_where_direct_itself_can_reach_25x() -> None:
    short = check_named(check_targets(build_rows(c64_runs(2430.0)), None), ">= 25x")
    assert short.met is False
    assert "0ms: 24.3x" in short.figure and "50ms: 10.4x" in short.figure
    assert "direct itself is only 11.5x" in short.figure and "judged on 0ms" in short.figure
    enough = check_named(check_targets(build_rows(c64_runs(2600.0)), None), ">= 25x")
    assert enough.met is True


def test_req_s_factor_is_not_judged_when_only_a_bounded_upstream_was_measured() -> None:
    runs = [r for r in c64_runs(2600.0) if r.scenario.startswith("50ms")]
    check = check_named(check_targets(build_rows(runs), None), ">= 25x")
    assert check.met is None and "out of reach" in check.figure
