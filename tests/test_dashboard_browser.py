"""The /ui dashboard in headless Chromium, against a real server whose log was filled through the simulator.

Needs Debian's `chromium` (apt) and the `playwright` PyPI package, which drives that binary directly (no
browser download). Screenshots go to $OPTMOD_ARTIFACTS_DIR when set, else to the test's temp folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RunningProxy, chat_body

from optmod.simulator import Fault

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROMPTS = [
    "write a python function that reverses a linked list",
    "solve the integral of x^2 from 0 to 3",
    "hello, how are you today?",
    "explain why quicksort degrades on sorted input, step by step",
    "translate 'good morning' into French",
]
UI_WAIT_MS = 15_000
# Records every table row inserted with the entry animation, with the animation the browser applied to it.
WATCH_NEW_ROWS = """() => {
  window.__animatedRows = [];
  new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach((node) => {
    if (node.classList && node.classList.contains("row-new")) {
      window.__animatedRows.push([node.dataset.requestId, getComputedStyle(node).animationName]);
    }
  }))).observe(document.querySelector("#recent tbody"), { childList: true });
}"""


async def fill_log(proxy: RunningProxy, count: int) -> None:
    """Requests of several task types, some streamed, some escalated by injected provider faults."""
    async with httpx.AsyncClient(timeout=20) as http:
        for index in range(count):
            if index % 4 == 1:
                proxy.simulator.inject(Fault("status", model="fast-a", status=500))
            if index % 7 == 3:
                proxy.simulator.inject(Fault("empty", model="fast-a"))
            model = "fast-a" if index % 4 in (1, 3) else "optmod"
            body = chat_body(PROMPTS[index % len(PROMPTS)], model=model, stream=index % 3 == 0)
            await http.post(f"{proxy.base_url}/chat/completions", json=body)


async def fetch_stats(proxy: RunningProxy, range_: str = "24h") -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{proxy.root}/api/stats", params={"range": range_})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as engine:
        launched = await engine.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        await launched.close()


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OPTMOD_ARTIFACTS_DIR") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def wait_for_renders(page: Any, at_least: int) -> None:
    await page.wait_for_function(f"Number(document.body.dataset.renders || 0) >= {at_least}", timeout=UI_WAIT_MS)


async def renders(page: Any) -> int:
    return int(await page.evaluate("Number(document.body.dataset.renders || 0)"))


async def attr_list(page: Any, selector: str, *names: str) -> list[tuple[str | None, ...]]:
    script = "(nodes, names) => nodes.map(n => names.map(a => n.getAttribute(a)))"
    rows = await page.eval_on_selector_all(selector, script, list(names))
    return [tuple(row) for row in rows]


async def check_cards(page: Any, stats: dict[str, Any]) -> None:
    rates, totals = stats["rates"], stats["totals"]
    expected = {
        "card-total": (totals["requests"], f"{totals['requests']:,}"),
        "card-success": (rates["success"], f"{rates['success'] * 100:.1f}%"),
        "card-escalation": (rates["escalation"], f"{rates['escalation'] * 100:.1f}%"),
        "card-error": (rates["error"], f"{rates['error'] * 100:.1f}%"),
        "card-cache": (rates["cache_hit"], f"{rates['cache_hit'] * 100:.1f}%"),
    }
    for card, (raw, text) in expected.items():
        value = page.locator(f"#{card} .value")
        assert float(await value.get_attribute("data-value")) == pytest.approx(raw), card
        assert await value.inner_text() == text, card
    assert await page.locator("#card-pins").get_attribute("data-value") == str(stats["active_pins"])


async def check_models(page: Any, stats: dict[str, Any]) -> None:
    shown = await attr_list(page, "#models li[data-model]", "data-model", "data-tier", "data-requests")
    assert shown == [(m["model"], str(m["tier"]), str(m["requests"])) for m in stats["models"]]
    costs = await attr_list(page, "#models li[data-model]", "data-cost-usd")
    assert [float(c[0] or "nan") for c in costs] == pytest.approx([m["cost_usd"] for m in stats["models"]])
    fills = await page.eval_on_selector_all("#models .fill", "nodes => nodes.map(n => n.className)")
    assert fills == [f"fill t{m['tier']}" for m in stats["models"]]  # tier-coloured bars
    widths = await page.eval_on_selector_all("#models .fill", "nodes => nodes.map(n => parseFloat(n.style.width))")
    assert widths == pytest.approx([m["share"] * 100 for m in stats["models"]], abs=0.006)
    savings = page.locator("#savings")
    assert float(await savings.get_attribute("data-savings-usd")) == pytest.approx(stats["savings"]["savings_usd"])
    assert await savings.get_attribute("data-oracle-model") == stats["savings"]["oracle_model"]
    tasks = await attr_list(page, "#tasks li[data-task]", "data-task", "data-requests")
    assert tasks == [(t["task_type"], str(t["requests"])) for t in stats["task_types"]]


async def check_latency_and_flows(page: Any, stats: dict[str, Any]) -> None:
    latency = stats["latency"]
    bins = await attr_list(page, "#latency-hist .bin", "data-bin", "data-count")
    assert bins == [(str(i), str(b["count"])) for i, b in enumerate(latency["histogram"])]
    for key in ("p50", "p90", "p99", "avg"):
        shown = await page.locator(f"#lat-{key}").get_attribute("data-value")
        assert float(shown) == pytest.approx(latency[f"{key}_ms"]), key
    flows = await attr_list(page, "#flows li[data-from]", "data-from", "data-to", "data-why", "data-count")
    assert flows == [(f["from"], f["to"], f["why"], str(f["count"])) for f in stats["escalations"]]
    assert flows, "the injected faults must show up as escalations"


async def check_table(page: Any, stats: dict[str, Any]) -> None:
    ids = await attr_list(page, "#recent tbody tr", "data-request-id")
    assert [i[0] for i in ids] == [r["request_id"] for r in stats["recent"]]
    titles = await page.eval_on_selector_all("#recent tbody td.model", "nodes => nodes.map(n => n.title)")
    assert titles == [r["model"] for r in stats["recent"]]  # full model name on hover
    reasons = await page.eval_on_selector_all("#recent tbody td.reason", "nodes => nodes.map(n => n.title)")
    assert reasons == [r["reason"] or "" for r in stats["recent"]]  # full routing reason on hover
    chains = await page.eval_on_selector_all("#recent tbody td.tried", "nodes => nodes.map(n => n.innerText)")
    for chain, row in zip(chains, stats["recent"], strict=True):
        assert chain.count("→") == len(row["models_tried"]) - 1
    statuses = await page.eval_on_selector_all("#recent tbody td.status", "nodes => nodes.map(n => n.innerText)")
    assert statuses == [str(r["status"]) for r in stats["recent"]]


async def test_dashboard_shows_the_stats_and_pause_freezes_the_table(
    proxy: RunningProxy, browser: Any, tmp_path: Path
) -> None:
    await fill_log(proxy, 24)
    stats = await fetch_stats(proxy)
    assert stats["totals"]["requests"] == len(proxy.records())  # the API agrees with the log
    page = await browser.new_page(viewport={"width": 1360, "height": 1000})
    await page.goto(f"{proxy.root}/ui?interval=400")
    await wait_for_renders(page, 1)
    await check_cards(page, stats)
    await check_models(page, stats)
    await check_latency_and_flows(page, stats)
    await check_table(page, stats)
    folder = artifacts_dir(tmp_path)
    await page.screenshot(path=str(folder / "dashboard-desktop.png"), full_page=True)

    await page.click("#pause-btn")
    frozen = await attr_list(page, "#recent tbody tr", "data-request-id")
    await fill_log(proxy, 3)
    total = stats["totals"]["requests"] + 3
    await page.wait_for_function(
        f"document.querySelector('#card-total .value').dataset.value === '{total}'", timeout=UI_WAIT_MS
    )
    assert await attr_list(page, "#recent tbody tr", "data-request-id") == frozen  # cards moved, table did not
    assert await page.locator("#recent").get_attribute("data-paused") == "true"
    assert await page.locator("#pause-btn").get_attribute("aria-pressed") == "true"

    await page.evaluate(WATCH_NEW_ROWS)
    await page.click("#pause-btn")
    new_ids = [r["request_id"] for r in (await fetch_stats(proxy))["recent"][:3]]
    await page.wait_for_function(
        f"document.querySelector('#recent tbody tr').dataset.requestId === '{new_ids[0]}'", timeout=UI_WAIT_MS
    )
    animated = await page.evaluate("window.__animatedRows")
    assert sorted(animated) == sorted([rid, "slide-in"] for rid in new_ids)  # exactly the new rows slide in
    await page.close()


async def test_dashboard_is_usable_at_phone_width(proxy: RunningProxy, browser: Any, tmp_path: Path) -> None:
    await fill_log(proxy, 10)
    stats = await fetch_stats(proxy)
    page = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    await page.goto(f"{proxy.root}/ui")
    await wait_for_renders(page, 1)
    await check_cards(page, stats)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page must not scroll sideways on a phone"
    # Each escalation takes two lines: the model names get the width (flash and pro differ only at the end), the
    # failure badge goes under them instead of squeezing between them.
    below = await page.eval_on_selector_all(
        "#flows li[data-from]",
        """items => items.map(li => {
            const top = li.querySelector('.why').getBoundingClientRect().top;
            return ['.from', '.to'].every(sel => top >= li.querySelector(sel).getBoundingClientRect().bottom - 1);
        })""",
    )
    assert below and all(below)
    await page.screenshot(path=str(artifacts_dir(tmp_path) / "dashboard-phone.png"), full_page=True)
    await page.close()


async def test_dashboard_says_while_it_is_still_reading_a_large_log(proxy: RunningProxy, browser: Any) -> None:
    stats = await fetch_stats(proxy)
    page = await browser.new_page()
    await page.goto(f"{proxy.root}/ui?interval=400")
    await wait_for_renders(page, 1)
    assert "reading the log" not in await page.locator("#updated").inner_text()
    rebuilding = {**stats, "log": {**stats["log"], "rebuilding": True}}

    async def answer_rebuilding(route: Any) -> None:
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(rebuilding))

    await page.route("**/api/stats*", answer_rebuilding)  # as /api/stats answers while a big log is folded
    await page.wait_for_function(
        "document.querySelector('#updated').innerText.includes('reading the log')", timeout=UI_WAIT_MS
    )
    await page.close()


async def test_ui_assets_are_served_locally_and_unknown_ones_are_404(proxy: RunningProxy) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        html = (await http.get(f"{proxy.root}/ui")).text
        assert "://" not in html  # no CDN: everything comes from optmod
        for asset in ("app.js", "style.css"):
            response = await http.get(f"{proxy.root}/ui/{asset}")
            assert response.status_code == 200 and "://" not in response.text
        missing = await http.get(f"{proxy.root}/ui/secrets.js")
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "asset"
        traversal = await http.get(f"{proxy.root}/ui/..%2F..%2Fconfig.yaml")
        assert traversal.status_code == 404 and "error" in traversal.json()
