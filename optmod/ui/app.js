// optmod dashboard: polls /api/stats and draws it. Every number shown comes from that one response; the
// raw value sits in a data-* attribute next to its formatted text so tests (and curious users) can check it.
"use strict";

const params = new URLSearchParams(window.location.search);
const REFRESH_MS = Math.max(Number(params.get("interval")) || 5000, 250);
const TIER_NAMES = { 0: "fast", 1: "reasoning", 2: "oracle" };
const view = {
  range: params.get("range") || "24h",
  paused: false,
  shownIds: new Set(),
  firstTable: true,
  renders: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = {
  int: (n) => Number(n).toLocaleString("en-US"),
  pct: (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"),
  usd(x) {
    if (x === null || x === undefined) return "–";
    const abs = Math.abs(x);
    const digits = abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
    return (x < 0 ? "-$" : "$") + abs.toFixed(digits);
  },
  ms(x) {
    if (x === null || x === undefined) return "–";
    return x < 1000 ? Math.round(x) + " ms" : (x / 1000).toFixed(2) + " s";
  },
  edge(ms) {
    return ms < 1000 ? ms + "ms" : ms / 1000 + "s";
  },
  time(ts) {
    const d = new Date(ts * 1000);
    return d.toLocaleTimeString("en-GB", { hour12: false });
  },
};

function shortModel(name) {
  const slash = name.lastIndexOf("/");
  return slash >= 0 ? name.slice(slash + 1) : name;
}

function setCard(id, value, text) {
  const node = $(id).querySelector(".value");
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  node.textContent = text;
}

function renderCards(s) {
  const t = s.totals;
  const r = s.rates;
  setCard("card-total", t.requests, fmt.int(t.requests));
  $("card-total-sub").textContent = `${fmt.int(t.ok)} ok · ${fmt.int(t.escalated)} escalated`;
  setCard("card-success", r.success, fmt.pct(r.success));
  setCard("card-escalation", r.escalation, fmt.pct(r.escalation));
  setCard("card-error", r.error, fmt.pct(r.error));
  $("card-error-sub").textContent = `${fmt.int(t.errors)} failed · provider failures ${fmt.pct(r.upstream_failure)} of tries`;
  setCard("card-cache", r.cache_hit, fmt.pct(r.cache_hit));
  const pins = $("card-pins");
  pins.dataset.value = String(s.active_pins);
  pins.textContent = fmt.int(s.active_pins);
  setCard("card-cost", t.cost_usd, fmt.usd(t.cost_usd));
  const estimated = t.cost_estimated_requests ? ` · ${fmt.int(t.cost_estimated_requests)} estimated` : "";
  $("card-cost-sub").textContent = `${fmt.int(t.prompt_tokens)} in / ${fmt.int(t.completion_tokens)} out tokens${estimated}`;
}

function bar(share, tierClass) {
  const width = Math.max(0, Math.min(100, share * 100));
  return el("div", { class: "track" }, el("div", { class: `fill ${tierClass}`, style: `width:${width.toFixed(2)}%` }));
}

function renderModels(s) {
  const list = $("models");
  list.replaceChildren(
    ...s.models.map((m) => {
      const tier = m.tier === null ? "none" : m.tier;
      return el(
        "li",
        { "data-model": m.model, "data-tier": tier, "data-requests": m.requests, "data-cost-usd": m.cost_usd },
        el("span", { class: "label", title: m.model + (m.in_pool ? "" : " (no longer in the pool)") },
          el("i", { class: `chip t${tier}`, title: TIER_NAMES[m.tier] || "unknown tier" }), shortModel(m.model)),
        bar(m.share, `t${tier}`),
        el("span", { class: "figure" },
          el("b", { class: "requests" }, fmt.int(m.requests)), ` · ${fmt.pct(m.share)} · `,
          el("span", { class: "cost" }, fmt.usd(m.cost_usd))),
      );
    }),
  );
  if (!s.models.length) list.replaceChildren(el("li", { class: "empty" }, "no requests in this range"));
  const sv = s.savings;
  const node = $("savings");
  node.dataset.savingsUsd = sv.savings_usd === null ? "" : String(sv.savings_usd);
  node.dataset.oracleCostUsd = sv.oracle_cost_usd === null ? "" : String(sv.oracle_cost_usd);
  node.dataset.oracleModel = sv.oracle_model || "";
  if (sv.oracle_model === null) {
    node.textContent = "";
    return;
  }
  const pct = sv.savings_pct === null ? "" : ` (${sv.savings_pct.toFixed(1)}%)`;
  node.replaceChildren(
    "Saved ", el("b", { class: "amount" }, fmt.usd(sv.savings_usd)), pct,
    " vs. always routing to the oracle tier: ", el("span", { class: "oracle-cost" }, fmt.usd(sv.oracle_cost_usd)),
    " on ", el("span", { title: sv.oracle_model }, shortModel(sv.oracle_model)), ", the cheapest oracle for these tokens.",
  );
}

function renderTasks(s) {
  const rows = s.task_types.map((t) =>
    el("li", { "data-task": t.task_type, "data-requests": t.requests },
      el("span", { class: "label" }, t.task_type), bar(t.share, "task"),
      el("span", { class: "figure" }, el("b", { class: "requests" }, fmt.int(t.requests)), ` · ${fmt.pct(t.share)}`)),
  );
  $("tasks").replaceChildren(...(rows.length ? rows : [el("li", { class: "empty" }, "–")]));
}

function renderLatency(s) {
  const lat = s.latency;
  for (const key of ["p50", "p90", "p99", "avg"]) {
    const node = $(`lat-${key}`);
    const value = lat[`${key}_ms`];
    node.dataset.value = value === null ? "" : String(value);
    node.textContent = fmt.ms(value);
  }
  $("lat-resolution").textContent = `percentiles within ${lat.resolution_pct}%`;
  const max = Math.max(1, ...lat.histogram.map((b) => b.count));
  $("latency-hist").replaceChildren(
    ...lat.histogram.map((b, i) => {
      const label = b.le_ms === null ? `>${fmt.edge(b.gt_ms)}` : `≤${fmt.edge(b.le_ms)}`;
      return el("div", { class: "bin", "data-bin": i, "data-count": b.count, title: `${label}: ${b.count}` },
        el("span", { class: "count" }, b.count ? fmt.int(b.count) : ""),
        el("div", { class: "col", style: `height:${((b.count / max) * 100).toFixed(1)}%` }),
        el("span", { class: "edge" }, label));
    }),
  );
}

function renderFlows(s) {
  const max = Math.max(1, ...s.escalations.map((f) => f.count));
  const rows = s.escalations.map((f) =>
    el("li", { "data-from": f.from, "data-to": f.to, "data-why": f.why, "data-count": f.count },
      el("span", { class: "from", title: f.from }, shortModel(f.from)),
      el("span", { class: "arrow", style: `--w:${(1 + (f.count / max) * 5).toFixed(1)}px` }, el("em", { class: "why" }, f.why)),
      el("span", { class: "to", title: f.to }, shortModel(f.to)),
      el("b", { class: "count" }, fmt.int(f.count))),
  );
  $("flows").replaceChildren(...(rows.length ? rows : [el("li", { class: "empty" }, "no escalations in this range")]));
}

function chain(tried) {
  const span = el("span", { class: "chain" });
  tried.forEach((a, i) => {
    if (i) span.append(" → ");
    span.append(el("span", { class: a.outcome === "ok" ? "try ok" : "try failed", title: `${a.model}: ${a.outcome}` },
      shortModel(a.model) + (a.outcome === "ok" ? "" : ` ✗ ${a.outcome}`)));
  });
  return span;
}

function renderTable(s) {
  const rows = s.recent.map((r) => {
    const isNew = !view.firstTable && !view.shownIds.has(r.request_id);
    const reason = r.reason || "";
    return el("tr", { "data-request-id": r.request_id, class: isNew ? "row-new" : null },
      el("td", { class: "time" }, fmt.time(r.ts)),
      el("td", { class: "model", title: r.model }, el("i", { class: `chip t${r.tier === null ? "none" : r.tier}` }), shortModel(r.model)),
      el("td", { class: "tried opt" }, chain(r.models_tried)),
      el("td", { class: "num cost", "data-value": r.cost_usd }, fmt.usd(r.cost_usd) + (r.cost_estimated ? "*" : "")),
      el("td", { class: "num latency", "data-value": r.latency_ms }, fmt.ms(r.latency_ms)),
      el("td", { class: r.ok ? "status ok" : "status failed" }, String(r.status)),
      el("td", { class: "reason opt", title: reason }, reason.length > 48 ? reason.slice(0, 47) + "…" : reason),
      el("td", { class: "num confidence" }, r.confidence === null ? "–" : r.confidence.toFixed(2)),
    );
  });
  $("recent").tBodies[0].replaceChildren(...rows);
  view.shownIds = new Set(s.recent.map((r) => r.request_id));
  view.firstTable = false;
}

function render(s) {
  renderCards(s);
  renderModels(s);
  renderTasks(s);
  renderLatency(s);
  renderFlows(s);
  if (!view.paused) renderTable(s);
  view.renders += 1;
  window.__optmodStats = s;
  document.body.dataset.renders = String(view.renders);
  document.body.dataset.range = view.range;
  // A large log is folded in the background at start-up: until it ends the figures are still filling in.
  const rebuilding = s.log && s.log.rebuilding ? " · reading the log…" : "";
  $("updated").textContent = `updated ${fmt.time(s.generated_at)} · ${view.range}${rebuilding}`;
}

async function refresh() {
  const dot = $("conn-dot");
  try {
    const response = await fetch(`/api/stats?range=${encodeURIComponent(view.range)}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    dot.dataset.state = "ok";
  } catch (err) {
    dot.dataset.state = "down";
    $("updated").textContent = `stats unavailable (${err.message})`;
  }
}

function setRange(range) {
  view.range = range;
  view.firstTable = true;
  for (const button of document.querySelectorAll("#ranges button")) {
    button.classList.toggle("active", button.dataset.range === range);
  }
  refresh();
}

function togglePause() {
  view.paused = !view.paused;
  const button = $("pause-btn");
  button.textContent = view.paused ? "Resume table" : "Pause table";
  button.setAttribute("aria-pressed", String(view.paused));
  $("recent").dataset.paused = String(view.paused);
  if (!view.paused && window.__optmodStats) renderTable(window.__optmodStats);
}

document.querySelectorAll("#ranges button").forEach((b) => b.addEventListener("click", () => setRange(b.dataset.range)));
$("pause-btn").addEventListener("click", togglePause);
setRange(view.range);
setInterval(refresh, REFRESH_MS);
