"""Writing an evaluation: `report.json` (everything), `report.md` (the tables), `quality_vs_cost.png`, and
the summary table printed by `optmod eval`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from optmod.training.evaluate import Report

MULTI_COLUMNS = ("quality", "aiq", "cost_ratio_at_95", "cost_ratio_at_98", "cost_ratio_at_100")
GAP_COLUMNS = ("apgr", "cpt50", "cpt80")
TIMING_COLUMNS = ("decision_ms_p50", "decision_ms_p99")
PLOT_FILE = "quality_vs_cost.png"


def report_dict(report: Report) -> dict[str, object]:
    return {
        "dataset": report.dataset,
        "pool": list(report.pool),
        "category": report.category,
        "test_prompts": report.test_prompts,
        "train_prompts": report.train_prompts,
        "leave_models_out": report.leave_models_out,
        "frame": asdict(report.frame),
        "settings": report.settings,
        "results": [
            {
                "name": r.name,
                "kind": r.kind,
                "encoder": r.encoder,
                **r.metrics,
                "groups": r.groups,
                "points": [asdict(p) for p in r.points],
            }
            for r in report.results
        ],
    }


def columns(report: Report) -> tuple[str, ...]:
    gap = GAP_COLUMNS if report.frame.strong is not None else ()
    timed = TIMING_COLUMNS if any(r.kind == "router" for r in report.results) else ()
    return (*MULTI_COLUMNS, *gap, *timed)


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table_rows(report: Report) -> list[list[str]]:
    names = columns(report)
    return [[r.name, *(format_value(r.metrics.get(c)) for c in names)] for r in report.results]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def group_table(report: Report) -> str:
    """Two-model pools: a row per router, APGR/CPT per group. Larger pools: a row per group, AIQ per router."""
    results = [r for r in report.results if r.groups]
    groups = sorted({g for r in results for g in r.groups})
    if report.frame.strong is not None:
        header = ["router", *[f"{g} {m}" for g in groups for m in GAP_COLUMNS]]
        rows = [
            [r.name, *(format_value(r.groups.get(g, {}).get(m)) for g in groups for m in GAP_COLUMNS)] for r in results
        ]
        return markdown_table(header, rows)
    header = ["group (aiq)", *[r.name for r in results]]
    return markdown_table(
        header, [[g, *(format_value(r.groups.get(g, {}).get("aiq")) for r in results)] for g in groups]
    )


def render_markdown(report: Report) -> str:
    frame = report.frame
    lines = [
        f"# Routing evaluation: {report.dataset}",
        "",
        f"- pool: {', '.join(report.pool)}",
        f"- category: {report.category or 'all'}; test prompts: {report.test_prompts}; "
        f"train prompts: {report.train_prompts}" + (" (pool models left out)" if report.leave_models_out else ""),
        f"- best single model quality {frame.best_quality:.4f} at ${frame.best_cost:.3g} per query; "
        f"single-model cost range ${frame.low_cost:.3g} - ${frame.high_cost:.3g}",
        "",
        markdown_table(["router", *columns(report)], table_rows(report)),
    ]
    if any(r.groups for r in report.results):
        title = "Two-model metrics" if report.frame.strong is not None else "AIQ"
        lines += ["", f"## {title} per category group", "", group_table(report)]
    lines += ["", f"![quality against cost]({PLOT_FILE})", ""]
    return "\n".join(lines)


def plot_curves(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optmod.training.metrics import build_hull

    figure, axes = plt.subplots(figsize=(8, 5.5))
    for result in report.results:
        if result.kind == "single":
            point = result.points[0]
            axes.scatter([point.cost], [point.quality], marker="s", zorder=3)
            axes.annotate(
                result.name, (point.cost, point.quality), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
            continue
        hull = build_hull([p.cost for p in result.points], [p.quality for p in result.points])
        style = "--" if result.kind == "baseline" else "-"
        axes.plot(hull.costs, hull.qualities, style, marker=".", markersize=3, label=result.name)
    axes.set_xscale("log")
    axes.set_xlabel("mean cost per query (USD, log scale)")
    axes.set_ylabel("mean quality")
    title = f"{report.dataset}: {report.category or 'all'} ({report.test_prompts} test prompts)"
    axes.set_title(title + (", pool left out of training" if report.leave_models_out else ""))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out / "report.json", out / "report.md", out / PLOT_FILE
    json_path.write_text(json.dumps(report_dict(report), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    plot_curves(report, png_path)
    return [json_path, md_path, png_path]


def print_summary(report: Report) -> None:
    header = ["router", *columns(report)]
    rows = table_rows(report)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    print(f"{report.dataset} pool={','.join(report.pool)} category={report.category or 'all'} n={report.test_prompts}")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
