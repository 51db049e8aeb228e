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
    served: int  # measured requests answered with a 2xx
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
        served=sum(r.load.get("ok", 0) for r in runs),
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


def _errors_cell(row: Row) -> str:
    if not row.errors:
        return "0"
    return f"**{row.errors:,}** of {row.errors + row.served:,}"


def render_row(row: Row) -> str:
    # A target that answered nothing has no latency: show that, not a 0.00 that reads as instant.
    failed = row.served == 0 and row.errors > 0
    cells = [
        row.scenario,
        row.target,
        _fmt(row.rps, 0),
        _fmt(row.rps_ratio, 3),
        "all failed" if failed else _fmt(row.p50_ms),
        "all failed" if failed else _fmt(row.p99_ms),
        _fmt(row.added_p50_ms, 3),
        _fmt(row.added_p99_ms, 3),
        _fmt(row.ttfb_p50_ms),
        _fmt(row.added_ttfb_p50_ms, 3),
        _fmt(row.cpu_ms_per_request, 3),
        _fmt(row.cpu_us_per_chunk, 1),
        _errors_cell(row),
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
    pairs = [(o, find(rows, o.scenario, "litellm")) for o in rows if o.target == "optmod_rule_based"]
    both = [(o, lite) for o, lite in pairs if lite is not None]
    return [_rps_vs_litellm(rows), _cpu_vs_litellm(both), _p99_vs_litellm(both)]


RPS_FACTOR = 25.0


@dataclass(frozen=True, slots=True)
class _SpeedUp:
    text: str
    factor: float
    binds: bool  # False where even direct is under 25x LiteLLM


def _speed_up(rows: Sequence[Row], latency: str) -> _SpeedUp | None:
    """The req/s factor over LiteLLM at c=64 against one upstream, and whether the target binds there.

    Direct's own factor over LiteLLM is the physical bound: where it is under 25x (the 50 ms upstream caps
    every target near 64 / 0.05 = 1,280 req/s), no proxy can reach 25x and that upstream cannot decide.
    """
    scenario = f"{latency}/json/small/c64"
    optmod, lite, direct = (find(rows, scenario, t) for t in ("optmod_rule_based", "litellm", "direct"))
    if optmod is None or lite is None or lite.rps <= 0:
        return None
    factor = optmod.rps / lite.rps
    text = f"{latency}: {factor:.1f}x ({optmod.rps:,.0f} vs {lite.rps:,.0f} req/s)"
    if direct is not None and direct.rps / lite.rps < RPS_FACTOR:
        bound = direct.rps / lite.rps
        return _SpeedUp(f"{text}, but direct itself is only {bound:.1f}x LiteLLM there", factor, False)
    return _SpeedUp(f"{text}, bounded by the proxy's own capacity", factor, True)


def _rps_vs_litellm(rows: Sequence[Row]) -> Check:
    name = ">= 25x LiteLLM's req/s (c=64, JSON; judged where direct itself is >= 25x LiteLLM)"
    measured = {latency: s for latency in ("0ms", "50ms") if (s := _speed_up(rows, latency)) is not None}
    if not measured:
        return _check(name, None, None)
    figure = "; ".join(s.text for s in measured.values())
    binding = {latency: s for latency, s in measured.items() if s.binds}
    if not binding:
        return Check(name, figure + "; 25x is out of reach at every measured upstream", None)
    met = all(s.factor >= RPS_FACTOR for s in binding.values())
    return Check(name, f"{figure}; judged on {', '.join(binding)}", met)


def _cpu_vs_litellm(both: Sequence[tuple[Row, Row]]) -> Check:
    name = "<= 1/25 of LiteLLM's CPU per request (worst scenario)"
    factors = [
        (lite.cpu_ms_per_request / o.cpu_ms_per_request, o.scenario)
        for o, lite in both
        if o.cpu_ms_per_request and lite.cpu_ms_per_request is not None
    ]
    if not factors:
        return _check(name, None, None)
    worst, scenario = min(factors)
    median = statistics.median(f for f, _ in factors)
    return _check(name, f"{worst:.1f}x less in {scenario} (median {median:.1f}x)", worst >= RPS_FACTOR)


def _p99_vs_litellm(both: Sequence[tuple[Row, Row]]) -> Check:
    """A scenario is won when optmod's p99 is lower, or when LiteLLM failed requests that optmod all served
    (its p99 then covers only the requests it survived, or none at all); optmod failing any request loses it."""
    name = "lower p99 than LiteLLM at every concurrency (every scenario)"
    if not both:
        return _check(name, None, None)
    lost = [f"{o.scenario} (optmod failed {o.errors:,})" for o, _ in both if o.errors]
    by_errors = [(o, lite) for o, lite in both if not o.errors and lite.errors]
    lost += [o.scenario for o, lite in both if not o.errors and not lite.errors and o.p99_ms >= lite.p99_ms]
    figure = f"{len(both) - len(lost)}/{len(both)} scenarios"
    if by_errors:
        listed = ", ".join(f"{o.scenario} ({lite.errors:,} of {lite.errors + lite.served:,})" for o, lite in by_errors)
        figure += f", {len(by_errors)} of them because LiteLLM failed requests optmod served: {listed}"
    if lost:
        figure += f"; lost: {', '.join(lost)}"
    return _check(name, figure, not lost)


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
