"""Folding load runs into per-scenario rows, checking the issue's targets, and writing JSON and markdown.

A proxy's added latency is its percentile minus the direct run's percentile in the same round; the row shows
the median over rounds. CPU per request divides the proxy's CPU time by every request it served (warm-up
included, as the CPU was spent on those too).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.proxy_bench.scenarios import TARGETS, RunResult

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Row:
    """One target in one scenario, over all rounds."""

    scenario: str
    target: str
    rps: float
    rps_ratio: float | None
    p50_ms: float
    p99_ms: float
    added_p50_ms: float | None
    added_p99_ms: float | None
    ttfb_p50_ms: float | None
    added_ttfb_p50_ms: float | None
    cpu_ms_per_request: float | None
    cpu_us_per_chunk: float | None
    events_per_response: float
    errors: int
    loadgen_cpu_us_per_request: float
    rss_mib: float | None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and v == v]
    return round(statistics.median(present), 4) if present else None


def _pair(
    runs: Sequence[RunResult], direct: dict[int, RunResult], pick: Callable[[RunResult], float | None]
) -> float | None:
    pairs = ((pick(r), pick(direct[r.round])) for r in runs if r.round in direct)
    return _median(a - b for a, b in pairs if a is not None and b is not None)


def build_row(scenario: str, target: str, runs: Sequence[RunResult], direct: dict[int, RunResult]) -> Row:
    stream = "/stream" in scenario
    sent = sum(r.load["sent"] for r in runs)
    cpu = [r.proxy_cpu_s for r in runs if r.proxy_cpu_s is not None]
    events = _median(r.load["events_per_response"] for r in runs) or 0.0
    cpu_ms = round(sum(cpu) / sent * 1000, 4) if cpu and sent else None
    per_chunk = round(cpu_ms * 1000 / events, 3) if cpu_ms is not None and stream and events else None
    rss = [r.proxy_rss_bytes for r in runs if r.proxy_rss_bytes is not None]
    ratios = [
        r.load["rps"] / direct[r.round].load["rps"] for r in runs if r.round in direct and direct[r.round].load["rps"]
    ]
    return Row(
        scenario=scenario,
        target=target,
        rps=_median(r.load["rps"] for r in runs) or 0.0,
        rps_ratio=_median(ratios) if target != "direct" else None,
        p50_ms=_median(r.load["latency_ms"]["p50"] for r in runs) or 0.0,
        p99_ms=_median(r.load["latency_ms"]["p99"] for r in runs) or 0.0,
        added_p50_ms=_pair(runs, direct, lambda r: r.load["latency_ms"]["p50"]) if target != "direct" else None,
        added_p99_ms=_pair(runs, direct, lambda r: r.load["latency_ms"]["p99"]) if target != "direct" else None,
        ttfb_p50_ms=_median(r.load["ttfb_ms"]["p50"] for r in runs) if stream else None,
        added_ttfb_p50_ms=_pair(runs, direct, lambda r: r.load["ttfb_ms"]["p50"])
        if stream and target != "direct"
        else None,
        cpu_ms_per_request=cpu_ms,
        cpu_us_per_chunk=per_chunk,
        events_per_response=events,
        errors=sum(r.load["errors"] for r in runs),
        loadgen_cpu_us_per_request=max(r.load["loadgen_cpu_us_per_request"] for r in runs),
        rss_mib=round(max(rss) / MIB, 1) if rss else None,
    )


def build_rows(results: Sequence[RunResult]) -> list[Row]:
    grouped: dict[str, dict[str, list[RunResult]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        grouped[result.scenario][result.target].append(result)
    rows = []
    for scenario, by_target in grouped.items():
        direct = {r.round: r for r in by_target.get("direct", [])}
        for target in TARGETS:
            if target in by_target:
                rows.append(build_row(scenario, target, by_target[target], direct))
    return rows


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


TABLE_HEAD = (
    "| scenario | target | req/s | x direct | p50 ms | p99 ms | +p50 ms | +p99 ms | TTFB p50 ms | +TTFB ms "
    "| CPU ms/req | CPU us/chunk | errors |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
)


def render_row(row: Row) -> str:
    cells = [
        row.scenario,
        row.target,
        _fmt(row.rps, 0),
        _fmt(row.rps_ratio, 3),
        _fmt(row.p50_ms),
        _fmt(row.p99_ms),
        _fmt(row.added_p50_ms, 3),
        _fmt(row.added_p99_ms, 3),
        _fmt(row.ttfb_p50_ms),
        _fmt(row.added_ttfb_p50_ms, 3),
        _fmt(row.cpu_ms_per_request, 3),
        _fmt(row.cpu_us_per_chunk, 1),
        str(row.errors),
    ]
    return "| " + " | ".join(cells) + " |\n"


def render_tables(rows: Sequence[Row]) -> str:
    """One table per scenario family (upstream and mode), a block of rows per body size and concurrency."""
    families: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        latency, mode = row.scenario.split("/")[:2]
        families[f"{latency} upstream, {mode}"].append(row)
    parts = []
    for family, members in families.items():
        parts.append(f"### {family}\n\n{TABLE_HEAD}{''.join(render_row(r) for r in members)}\n")
    return "".join(parts)


def find(rows: Sequence[Row], scenario: str, target: str) -> Row | None:
    return next((r for r in rows if r.scenario == scenario and r.target == target), None)


@dataclass(frozen=True, slots=True)
class Check:
    target: str
    figure: str
    met: bool | None  # None: not measured in this run


def _check(name: str, figure: str | None, met: bool | None) -> Check:
    return Check(name, figure or "not measured in this run", met if figure is not None else None)


def check_targets(rows: Sequence[Row], rss: dict[str, Any] | None) -> list[Check]:
    checks = [_latency_c1(rows), _throughput_c64(rows), *_litellm_checks(rows), _perf_router(rows)]
    checks += [_chunk_cpu(rows), _stream_ttfb(rows), _rss_growth(rss)]
    return checks


def _latency_c1(rows: Sequence[Row]) -> Check:
    row = find(rows, "0ms/json/small/c1", "optmod_rule_based")
    if row is None or row.added_p50_ms is None or row.added_p99_ms is None:
        return _check("added latency c=1, instant, rule_based: p50 <= 0.5 ms, p99 <= 2 ms", None, None)
    figure = f"+{row.added_p50_ms:.3f} ms p50, +{row.added_p99_ms:.3f} ms p99"
    met = row.added_p50_ms <= 0.5 and row.added_p99_ms <= 2.0
    return _check("added latency c=1, instant, rule_based: p50 <= 0.5 ms, p99 <= 2 ms", figure, met)


def _throughput_c64(rows: Sequence[Row]) -> Check:
    name = "c=64 against the 50 ms upstream: >= 95% of direct req/s"
    row = find(rows, "50ms/json/small/c64", "optmod_rule_based")
    if row is None or row.rps_ratio is None:
        return _check(name, None, None)
    return _check(name, f"{row.rps_ratio * 100:.1f}% ({row.rps:,.0f} req/s)", row.rps_ratio >= 0.95)


def _litellm_checks(rows: Sequence[Row]) -> list[Check]:
    pairs = [
        (row, find(rows, row.scenario, "litellm"))
        for row in rows
        if row.target == "optmod_rule_based" and find(rows, row.scenario, "litellm") is not None
    ]
    both = [(o, lite) for o, lite in pairs if lite is not None]
    speed = find(rows, "50ms/json/small/c64", "optmod_rule_based"), find(rows, "50ms/json/small/c64", "litellm")
    rps_name = ">= 25x LiteLLM's req/s (c=64, 50 ms upstream)"
    if speed[0] is not None and speed[1] is not None and speed[1].rps > 0:
        factor = speed[0].rps / speed[1].rps
        rps_check = _check(rps_name, f"{factor:.1f}x ({speed[0].rps:,.0f} vs {speed[1].rps:,.0f} req/s)", factor >= 25)
    else:
        rps_check = _check(rps_name, None, None)
    factors = [
        lite.cpu_ms_per_request / o.cpu_ms_per_request
        for o, lite in both
        if o.cpu_ms_per_request and lite.cpu_ms_per_request is not None
    ]
    cpu_name = "<= 1/25 of LiteLLM's CPU per request (worst scenario)"
    cpu_check = (
        _check(
            cpu_name,
            f"{min(factors):.1f}x less (median {statistics.median(factors):.1f}x)",
            min(factors) >= 25,
        )
        if factors
        else _check(cpu_name, None, None)
    )
    p99_name = "lower p99 than LiteLLM at every concurrency (every scenario)"
    losses = [o.scenario for o, lite in both if o.p99_ms >= lite.p99_ms]
    p99_check = (
        _check(
            p99_name,
            f"{len(both) - len(losses)}/{len(both)} scenarios" + (f"; lost: {', '.join(losses)}" if losses else ""),
            not losses,
        )
        if both
        else _check(p99_name, None, None)
    )
    return [rps_check, cpu_check, p99_check]


def _perf_router(rows: Sequence[Row]) -> Check:
    name = "perf_router adds <= 2 ms p50 over rule_based (c=1, instant)"
    rule = find(rows, "0ms/json/small/c1", "optmod_rule_based")
    perf = find(rows, "0ms/json/small/c1", "optmod_perf_router")
    if rule is None or perf is None:
        return _check(name, None, None)
    extra = perf.p50_ms - rule.p50_ms
    return _check(name, f"{extra:+.3f} ms", extra <= 2.0)


def _chunk_cpu(rows: Sequence[Row]) -> Check:
    name = "<= 60 us of proxy CPU per relayed chunk (200-chunk streams, all of the request's CPU)"
    figures = [r.cpu_us_per_chunk for r in rows if r.target == "optmod_rule_based" and "/stream200/" in r.scenario]
    present = [f for f in figures if f is not None]
    if not present:
        return _check(name, None, None)
    return _check(name, f"{min(present):.1f}-{max(present):.1f} us", max(present) <= 60)


def _stream_ttfb(rows: Sequence[Row]) -> Check:
    name = "stream time to first byte within 1 ms of direct at c=1"
    row = find(rows, "0ms/stream20/small/c1", "optmod_rule_based")
    if row is None or row.added_ttfb_p50_ms is None:
        return _check(name, None, None)
    return _check(name, f"+{row.added_ttfb_p50_ms:.3f} ms p50", row.added_ttfb_p50_ms <= 1.0)


def _rss_growth(rss: dict[str, Any] | None) -> Check:
    name = "RSS grows < 5% between 10k and 100k requests"
    if not rss or rss.get("after_100k_mib") is None:
        return _check(name, None, None)
    growth = rss["after_100k_mib"] / rss["after_10k_mib"] - 1
    figure = f"{rss['start_mib']:.1f} -> {rss['after_10k_mib']:.1f} -> {rss['after_100k_mib']:.1f} MiB ({growth * 100:+.1f}%)"
    return _check(name, figure, growth < 0.05)


def render_checks(checks: Sequence[Check]) -> str:
    lines = ["| target | this run | met |\n|---|---|---|\n"]
    for check in checks:
        met = "n/a" if check.met is None else ("yes" if check.met else "NO")
        lines.append(f"| {check.target} | {check.figure} | {met} |\n")
    return "".join(lines)


def _render_router_status(statuses: dict[str, Any] | None) -> str:
    if not statuses:
        return "perf_router: not run.  \n"
    lines = []
    for upstream, status in statuses.items():
        active = status.get("active")
        why = f" (fallback: {status.get('fallback_reason')})" if status.get("fallback_reason") else ""
        lines.append(f"perf_router with the {upstream} upstream: /optmod/status says active `{active}`{why}.  \n")
    return "".join(lines)


def render_markdown(
    meta: dict[str, Any], rows: Sequence[Row], checks: Sequence[Check], rss: dict[str, Any] | None
) -> str:
    header = [
        "# optmod proxy benchmark\n\n",
        f"Command: `{meta['command']}` at commit {meta['git']} ({meta.get('git_at_end')} when it ended).  \n",
        f"Machine: {meta['cpus']} CPUs, load average at start {meta['loadavg_start']}, at end {meta['loadavg_end']}.  \n",
        f"LiteLLM: {meta.get('litellm_version') or 'not run'}.  \n",
        _render_router_status(meta.get("perf_router_status")),
        f"Budget per run: {meta['budget']['requests']} requests or {meta['budget']['max_seconds']} s after warm-up, "
        f"{meta['budget']['rounds']} round(s), targets alternating within each round.\n\n",
        "## Targets\n\n",
        render_checks(checks),
        "\n## Scenarios\n\n",
        "`+p50`/`+p99`: the proxy's percentile minus direct's in the same round (median over rounds). "
        "CPU is the proxy process's user+system time.\n\n",
        render_tables(rows),
    ]
    if rss:
        header.append(
            f"## Memory\n\noptmod (rule_based, log on) RSS: start {rss['start_mib']} MiB, after 10k requests "
            f"{rss['after_10k_mib']} MiB, after 100k {rss.get('after_100k_mib', '-')} MiB.\n"
        )
    return "".join(header)
