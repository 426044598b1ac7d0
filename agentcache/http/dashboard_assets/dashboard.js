"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const S = { key: sessionStorage.getItem("agentcache-key") || "", entries: [], interval: 10, kept: 3600, selected: null,
  before: null, shown: null, skew: 0, busy: false, again: false, data: null };
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}
function num(n, digits) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (Number.isInteger(n)) return String(n);
  if (a < 0.01) return n.toPrecision(2);
  return n.toFixed(digits === undefined ? (a < 10 ? 2 : 1) : digits);
}
const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : (100 * x).toFixed(1) + "%");
function msText(x) {
  if (x === null || x === undefined) return "–";
  return x < 1 ? x.toFixed(2) + " ms" : x < 100 ? x.toFixed(1) + " ms" : Math.round(x) + " ms";
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  for (const [u, s] of [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 1024]]) if (n >= s) return (n / s).toFixed(1) + " " + u;
  return n + " B";
}
function dur(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}
function short(s) {
  s = Math.round(s);
  return s < 60 ? s + "s" : s < 3600 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h";
}
function msShort(x) {
  if (!x) return "0";
  return x >= 1000 ? (x / 1000).toFixed(x >= 10000 ? 0 : 1) + "s" : x >= 10 ? Math.round(x) + "ms" : x >= 1 ? x.toFixed(1) + "ms" : x.toFixed(2) + "ms";
}
const serverNow = () => Date.now() + S.skew;
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
function ago(t, now) {
  const s = Math.round((now - t) / 1000);
  return s <= 0 ? "now" : "-" + short(s);
}
function legend(fig, items) {
  const box = fig.querySelector(".legend");
  box.replaceChildren();
  for (const item of items) {
    const span = el("span", item.k);
    span.appendChild(el("i", "swatch"));
    span.appendChild(document.createTextNode(item.name + (item.value === undefined ? "" : ": " + item.value)));
    box.appendChild(span);
  }
}
// A line chart. series: [{name, k, pts: [[t, v or null], ...], dash}]; t0..t1 the time span (ms);
// o.connect: draw across intervals without a value (else the line breaks there).
function lineChart(fig, series, o) {
  const box = fig.querySelector(".chart");
  box.replaceChildren();
  const W = 340, H = 150, L = 40, R = 10, T = 8, B = 18;
  const good = series.flatMap((s) => s.pts.filter((p) => p[1] !== null && Number.isFinite(p[1])));
  fig.dataset.points = String(good.length);
  const max = o.max !== undefined ? o.max : niceMax(Math.max(0, ...good.map((p) => p[1])));
  const x = (t) => L + ((W - L - R) * (t - o.t0)) / Math.max(1, o.t1 - o.t0);
  const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": o.label });
  for (const f of [0, 0.5, 1]) {
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: "grid-line" }));
    const label = svg("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" });
    label.textContent = o.fmt(max * f);
    root.appendChild(label);
  }
  for (const [t, anchor] of [[o.t0, "start"], [(o.t0 + o.t1) / 2, "middle"], [o.t1, "end"]]) {
    const label = svg("text", { x: x(t), y: H - 4, "text-anchor": anchor });
    label.textContent = ago(t, o.t1);
    root.appendChild(label);
  }
  for (const s of series) {
    let d = "", pen = false, alone = [];
    const pts = o.connect ? s.pts.filter((p) => p[1] !== null && Number.isFinite(p[1])) : s.pts;
    pts.forEach((p, i) => {
      if (p[1] === null || !Number.isFinite(p[1])) { pen = false; return; }
      d += (pen ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
      const next = pts[i + 1];
      if (!pen && !(next && next[1] !== null && Number.isFinite(next[1]))) alone.push(p);
      pen = true;
    });
    if (d) root.appendChild(svg("path", { d, class: "line " + s.k + (s.dash ? " dash" : "") }));
    for (const p of alone) root.appendChild(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 2.2, class: "dot " + s.k }));
  }
  box.appendChild(root);
  if (!good.length) box.appendChild(el("p", "empty", o.empty || "No data yet."));
  legend(fig, series.filter((s) => !s.hideKey).map((s) => ({ name: s.name, k: s.k, value: s.value })));
}
// A bar chart: bars [{label, v}], with a few labels under it.
function barChart(fig, bars, o) {
  const box = fig.querySelector(".chart");
  box.replaceChildren();
  const W = 340, H = 150, L = 40, R = 10, T = 8, B = 18;
  fig.dataset.points = String(bars.filter((b) => b.v > 0).length);
  const max = niceMax(Math.max(0, ...bars.map((b) => b.v)));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": o.label });
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const f of [0, 0.5, 1]) {
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: "grid-line" }));
    const label = svg("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" });
    label.textContent = o.fmt(max * f);
    root.appendChild(label);
  }
  const step = (W - L - R) / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    if (b.v > 0) {
      root.appendChild(svg("rect", { x: L + i * step + step * 0.12, y: y(b.v), width: Math.max(1, step * 0.76),
        height: Math.max(0.5, y(0) - y(b.v)), class: "bar " + o.k }));
    }
    if (b.label && (i === 0 || i === bars.length - 1 || i === Math.floor(bars.length / 2))) {
      const label = svg("text", { x: L + i * step + step / 2, y: H - 4, "text-anchor": "middle" });
      label.textContent = b.label;
      root.appendChild(label);
    }
  });
  box.appendChild(root);
  if (!bars.some((b) => b.v > 0)) box.appendChild(el("p", "empty", o.empty || "No data yet."));
  legend(fig, o.legend || []);
}
function spark(values, k) {
  const W = 90, H = 22, good = values.filter((v) => v !== null && Number.isFinite(v));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "plot spark" });
  if (!good.length) return el("span", "muted", "–");
  const max = Math.max(...good) || 1, min = Math.min(0, ...good);
  let d = "", pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const px = values.length < 2 ? W / 2 : (i * (W - 2)) / (values.length - 1) + 1;
    d += (pen ? "L" : "M") + px.toFixed(1) + " " + (H - 2 - ((H - 4) * (v - min)) / (max - min || 1)).toFixed(1);
    pen = true;
  });
  root.appendChild(svg("path", { d: d.includes("L") ? d : d + "l1 0", class: "line " + k }));
  return root;
}
function kpis(box, items) {
  box.replaceChildren();
  for (const [label, value] of items) {
    const card = el("div", "card kpi");
    card.appendChild(el("div", "v", value));
    card.appendChild(el("div", "l", label));
    box.appendChild(card);
  }
}
function cells(tr, values) {
  for (const v of values) {
    if (v instanceof Node) { const td = el("td"); td.appendChild(v); tr.appendChild(td); }
    else if (typeof v === "object" && v !== null) tr.appendChild(el("td", v.cls, v.text));
    else tr.appendChild(el("td", typeof v === "number" ? "num" : "", v));
  }
  return tr;
}

// --- cache over time -----------------------------------------------------------------------------
const TIERS = [["session", "k1"], ["tool", "k2"], ["llm", "k3"]];
function span() {
  const now = S.data && S.data.sessions && S.data.sessions.now ? S.data.sessions.now : serverNow();
  const least = now - 10 * S.interval * 1000;
  const first = S.entries.length ? S.entries[0].t - S.entries[0].s * 1000 : least;
  return [Math.max(now - S.kept * 1000, Math.min(first, least)), now];
}
function drawCache() {
  const E = S.entries, [t0, t1] = span();
  $("span").textContent = "last " + dur((t1 - t0) / 1000) + ", every " + S.interval + "s";
  const rate = (h, m) => (h + m > 0 ? h / (h + m) : null);
  lineChart($("chart-hits"), TIERS.map(([tier, k]) => {
    const h = E.reduce((a, e) => a + e.tiers[tier][0], 0), m = E.reduce((a, e) => a + e.tiers[tier][1], 0);
    return { name: tier, k, value: pct(rate(h, m)), pts: E.map((e) => [e.t, rate(e.tiers[tier][0], e.tiers[tier][1])]) };
  }), { t0, t1, max: 1, connect: true, fmt: (v) => Math.round(v * 100) + "%", label: "hit rate by tier",
    empty: "No lookups yet." });
  const calls = (e) => Object.values(e.ops).reduce((a, o) => a + o[0], 0);
  const timed = E.some((e) => calls(e) > 0);
  const lookups = (e) => TIERS.reduce((a, [tier]) => a + e.tiers[tier][0] + e.tiers[tier][1] + e.tiers[tier][2], 0);
  const ops = E.map((e) => [e.t, (timed ? calls(e) : lookups(e)) / e.s]);
  lineChart($("chart-ops"), [{ name: timed ? "all operations" : "lookups and writes (no timings shipped)", k: "k1",
    value: ops.length ? num(ops[ops.length - 1][1]) + "/s" : undefined, pts: ops }],
  { t0, t1, fmt: num, label: "operations per second" });
  const totals = {};
  for (const e of E) for (const [name, o] of Object.entries(e.ops)) totals[name] = (totals[name] || 0) + o[0];
  const byCalls = Object.keys(totals).sort((a, b) => totals[b] - totals[a]);
  const busiest = byCalls.filter((name) => !name.startsWith("monitor.")).slice(0, 4); // not the dashboard's own reads
  const lat = [];
  busiest.forEach((name, i) => {
    const k = "k" + (i + 1), pick = (j) => E.map((e) => [e.t, e.ops[name] ? e.ops[name][j] : null]);
    const last = [...E].reverse().find((e) => e.ops[name]);
    lat.push({ name, k, pts: pick(4), value: last ? msText(last.ops[name][3]) + " / " + msText(last.ops[name][4]) : undefined });
    lat.push({ name: name + " p50", k, pts: pick(3), dash: true, hideKey: true });
  });
  lineChart($("chart-latency"), lat, { t0, t1, connect: true, fmt: msShort, label: "latency per operation",
    empty: "No timings yet (a cache with observers=[Timings()] that records ships them)." });
  const cost = E.map((e) => {
    let c = 0;
    for (const row of Object.values(e.tools)) c += row[2];
    for (const row of Object.values(e.models)) c += row[2];
    return { v: c, label: ago(e.t, t1) };
  });
  barChart($("chart-cost"), cost, { k: "k3", fmt: num, label: "cost saved per interval", empty: "Nothing saved yet.",
    legend: [{ name: "tools and models", k: "k3", value: num(cost.reduce((a, b) => a + b.v, 0)) + " over the span" }] });
  const near = E.map((e) => [e.t, Object.values(e.ops).reduce((a, o) => a + o[2], 0) / e.s]);
  const nearTotal = E.reduce((a, e) => a + Object.values(e.ops).reduce((b, o) => b + o[2], 0), 0);
  lineChart($("chart-near"), [{ name: "served from process memory", k: "k4", value: num(nearTotal) + " hits", pts: near }],
    { t0, t1, fmt: num, label: "near-cache hits per second",
      empty: timed ? "No near cache in use." : "No timings yet." });
  if (!nearTotal && timed) $("chart-near").querySelector(".chart").appendChild(el("p", "empty", "No near-cache hits in the span."));
  let h = 0, m = 0, saved = 0;
  for (const e of E) for (const [tier] of TIERS) { h += e.tiers[tier][0]; m += e.tiers[tier][1]; }
  for (const c of cost) saved += c.v;
  const lastOps = ops.length ? ops[ops.length - 1][1] : null;
  kpis($("cache-kpis"), [["hit rate, all tiers", pct(rate(h, m))], ["operations/s, latest", num(lastOps)],
    ["cost saved", num(saved)], ["near-cache hits", num(nearTotal)], ["lookups", num(h + m)]]);
  const body = $("ops").querySelector("tbody");
  body.replaceChildren();
  const seconds = E.reduce((a, e) => a + e.s, 0) || 1;
  for (const name of byCalls.slice(0, 16)) {
    let errors = 0, nearHits = 0, latest = null;
    for (const e of E) {
      const o = e.ops[name];
      if (!o) continue;
      errors += o[1];
      nearHits += o[2];
      if (o[3] !== null) latest = o;
    }
    const tr = cells(el("tr"), [name, num(totals[name] / seconds), errors, nearHits,
      { cls: "num", text: msText(latest ? latest[3] : null) }, { cls: "num", text: msText(latest ? latest[4] : null) },
      spark(E.map((e) => (e.ops[name] ? e.ops[name][4] : null)), "k5")]);
    tr.dataset.op = name;
    body.appendChild(tr);
  }
  if (byCalls.length > 16) body.appendChild(cells(el("tr"), [{ cls: "empty", text: "and " + (byCalls.length - 16) + " more" }]));
  if (!body.children.length) body.appendChild(cells(el("tr"), [{ cls: "empty", text: "No timings yet." }]));
}

// --- valkey --------------------------------------------------------------------------------------
const KEY_TIERS = [["session", "k1"], ["tool", "k2"], ["llm", "k3"], ["conversations", "k4"], ["checkpoints", "k6"],
  ["store", "k8"], ["limits", "k8"], ["monitor", "k7"], ["other", "k5"], ["foreign", "k9"]];
const KEY_NAMES = { other: "this prefix, no tier", foreign: "other prefixes" };
function facts(pairs) {
  const dl = el("dl", "facts");
  for (const [k, v] of pairs) { dl.appendChild(el("dt", "", k)); dl.appendChild(el("dd", "", v)); }
  return dl;
}
function meter(fraction, k) {
  const root = svg("svg", { viewBox: "0 0 200 8", class: "plot", preserveAspectRatio: "none", height: 8 });
  root.appendChild(svg("rect", { x: 0, y: 0, width: 200, height: 8, rx: 3, class: "track" }));
  root.appendChild(svg("rect", { x: 0, y: 0, width: Math.max(0, Math.min(1, fraction)) * 200, height: 8, rx: 3, class: "bar " + k }));
  return root;
}
function drawValkey(v) {
  const nodes = $("nodes");
  nodes.replaceChildren();
  const warning = $("valkey-warning");
  if (v.error) { warning.hidden = false; warning.textContent = v.error; return; }
  warning.hidden = !v.warning;
  warning.textContent = v.warning || "";
  const c = v.cluster;
  $("cluster").textContent = (c ? "Cluster " + (c.cluster_state || "?") + " · " + (c.cluster_size || "?") + " primaries · " +
    (c.cluster_known_nodes || "?") + " nodes · epoch " + (c.cluster_current_epoch || "?") : "One server (not a cluster)") +
    " · primary changes seen (failover or restart): " + (v.primary_changes === null ? "unknown" : v.primary_changes);
  for (const n of v.nodes) {
    const card = el("div", "card node");
    card.dataset.node = n.node;
    const title = el("h3", "", n.node + " ");
    title.appendChild(el("span", "tag", n.error ? "unreachable" : n.readable ? n.role : "INFO refused"));
    if (n.promoted) title.appendChild(el("span", "tag", "took over (failover)"));
    card.appendChild(title);
    if (n.error) card.appendChild(el("p", "warn", n.error));
    if (n.readable) {
      const frac = n.max ? n.used / n.max : 0;
      card.appendChild(el("div", "muted", "memory " + bytes(n.used) + (n.max ? " of " + bytes(n.max) + " (" + pct(frac) + ")" : ", no maxmemory")));
      card.appendChild(meter(n.max ? frac : 0, frac > 0.9 ? "k5" : "k1"));
      const replicas = n.replicas.length ? n.replicas.map((r) => r.address + " " + r.state + (r.lag === null ? "" : " lag " + r.lag + "s")).join(", ") : "none";
      card.appendChild(facts([["policy", n.policy + (n.evicts_agent_state ? " (can evict agent state)" : "")],
        ["evicted keys", num(n.evicted)], ["expired keys", num(n.expired)], ["clients", n.clients + (n.blocked ? " (" + n.blocked + " blocked)" : "")],
        ["ops/s", num(n.ops_per_sec)], ["replicas", replicas], ["uptime", dur(n.uptime_s) + " · valkey " + n.version]]));
    }
    if (n.keys) {
      const total = Object.values(n.keys.tiers).reduce((a, b) => a + b, 0) || 1;
      const bar = svg("svg", { viewBox: "0 0 200 10", class: "plot", preserveAspectRatio: "none", height: 10 });
      let at = 0;
      const items = [];
      const known = new Set(KEY_TIERS.map(([tier]) => tier));
      const tiers = KEY_TIERS.concat(Object.keys(n.keys.tiers).filter((t) => !known.has(t)).map((t) => [t, "k9"]));
      for (const [tier, k] of tiers) {
        const count = n.keys.tiers[tier] || 0;
        if (!count) continue;
        bar.appendChild(svg("rect", { x: (200 * at) / total, y: 0, width: (200 * count) / total, height: 10, class: "bar " + k }));
        at += count;
        items.push({ name: KEY_NAMES[tier] || tier, k, value: (n.keys.exact ? "" : "≈") + num(count) });
      }
      card.appendChild(el("div", "muted", "keys " + num(n.keys.total) + (n.keys.exact ? "" : " (by tier: estimated from a sample)")));
      card.appendChild(bar);
      const box = el("div", "legend");
      for (const item of items) {
        const span = el("span", item.k);
        span.appendChild(el("i", "swatch"));
        span.appendChild(document.createTextNode(item.name + " " + item.value));
        box.appendChild(span);
      }
      card.appendChild(box);
    }
    nodes.appendChild(card);
  }
}

// --- sessions ------------------------------------------------------------------------------------
function countdown(node, deadline) {
  node.dataset.deadline = String(deadline);
  node.classList.add("countdown");
  tick(node);
  return node;
}
function tick(node) {
  const left = (Number(node.dataset.deadline) - serverNow()) / 1000;
  node.textContent = left > 0 ? dur(left) : "expired";
}
function drawSessions(s) {
  if (s.error) { kpis($("session-kpis"), [["sessions", "error"]]); $("sessions-more").hidden = false; $("sessions-more").textContent = s.error; return; }
  kpis($("session-kpis"), [["live", num(s.live)], ["active", num(Math.max(0, s.live - s.near))],
    ["near expiration", num(s.near) + (s.near_exact ? "" : "+")], ["renewals (listed)", num(s.renewals)]]);
  barChart($("chart-expiry"), s.expiring.map((v, i) => ({ v, label: "+" + short((i + 1) * s.bin_s) })),
    { k: "k2", fmt: num, label: "sessions expiring per interval", empty: "Nothing expires in the next " + dur(s.expiring.length * s.bin_s) + ".",
      legend: [{ name: "sessions expiring per " + short(s.bin_s), k: "k2", value: num(s.expiring.reduce((a, b) => a + b, 0)) }] });
  const body = $("session-list").querySelector("tbody");
  body.replaceChildren();
  const filter = $("q").value.trim().toLowerCase();
  for (const row of s.list) {
    if (filter && !(row.id.toLowerCase().includes(filter) || row.agent.toLowerCase().includes(filter) || row.user.toLowerCase().includes(filter))) continue;
    const open = el("button", "link", row.id);
    open.type = "button";
    open.addEventListener("click", () => select(row.id));
    const tr = cells(el("tr"), [open, row.agent, row.user, row.status.replace("_", " "), countdown(el("span"), row.expires), row.renewals, row.messages]);
    tr.dataset.id = row.id;
    if (row.status === "near_expiration") tr.className = "near";
    body.appendChild(tr);
  }
  const more = $("sessions-more");
  more.hidden = !(s.more || !s.list.length);
  more.textContent = s.list.length ? "Showing the " + s.list.length + " soonest to expire." : "No live sessions.";
}
function part(p) {
  const box = el("div", "part");
  box.dataset.type = p.type;
  if (p.type === "text") box.textContent = p.text;
  else if (p.type === "image") {
    if (typeof p.src === "string" && /^data:image\/(png|jpeg|gif|webp);base64,/.test(p.src)) {
      const img = el("img", "thumb");
      img.alt = p.name || "image";
      img.src = p.src;
      box.appendChild(img);
    } else box.textContent = "image " + (p.mime || "") + (p.url ? " at " + p.url : "") + (p.size ? " (" + bytes(p.size) + ")" : "");
  } else if (p.type === "tool_call") { box.className = "part code"; box.textContent = "→ " + p.name + " " + p.text; }
  else if (p.type === "tool_result") { box.className = "part code"; box.textContent = (p.error ? "✗ " : "← ") + p.text; }
  else { box.className = "part code"; box.textContent = p.text; }
  return box;
}
function drawMessages(c) {
  const list = $("messages"), pager = $("pager");
  if (!c || c.agent === undefined) { list.replaceChildren(); pager.replaceChildren(); S.shown = null; return; }
  if (c.messages === null && S.shown && S.shown.id === S.selected && S.shown.before === S.before) return; // unchanged
  S.shown = { id: S.selected, before: S.before, version: c.version };
  list.replaceChildren();
  for (const m of c.messages || []) {
    const item = el("div", "msg");
    item.appendChild(el("div", "role", m.role));
    for (const p of m.parts) item.appendChild(part(p));
    if (m.more_parts) item.appendChild(el("div", "empty", "+" + m.more_parts + " more parts"));
    if (m.metadata) item.appendChild(el("div", "part code muted", m.metadata));
    list.appendChild(item);
  }
  if (!list.children.length) list.appendChild(el("p", "empty", "No messages."));
  const place = () => { list.scrollTop = c.before === null ? list.scrollHeight : 0; }; // the newest page opens at its end
  place();
  for (const img of list.querySelectorAll("img")) img.addEventListener("load", place, { once: true });
  pager.replaceChildren();
  if (c.cursor !== null) {
    const older = el("button", "", "older messages");
    older.type = "button";
    older.id = "older";
    older.addEventListener("click", () => { S.before = c.cursor; refresh(); });
    pager.appendChild(older);
  }
  if (c.before !== null) {
    const newest = el("button", "", "newest messages");
    newest.type = "button";
    newest.id = "newest";
    newest.addEventListener("click", () => { S.before = null; refresh(); });
    pager.appendChild(newest);
  }
}
function drawDetail(d) {
  $("detail").hidden = !S.selected;
  const conv = $("conversation");
  conv.replaceChildren();
  if (!S.selected || !d) { drawMessages(null); return; }
  $("detail-title").textContent = "Thread / session " + S.selected;
  if (d.error) { conv.appendChild(el("p", "warn", d.error)); drawMessages(null); return; }
  const c = d.conversation;
  if (!c) conv.appendChild(el("p", "empty", "No conversation with this id."));
  else {
    if (c.note) conv.appendChild(el("p", "warn", c.note));
    const dl = facts([["status", c.status.replace("_", " ")]]);
    if (c.agent !== undefined) {
      for (const [k, v] of [["agent", c.agent], ["user", c.user], ["messages", String(c.count)], ["renewals", String(c.renewals)]]) {
        dl.appendChild(el("dt", "", k));
        dl.appendChild(el("dd", "", v));
      }
      dl.appendChild(el("dt", "", "expires in"));
      const dd = el("dd");
      dd.appendChild(countdown(el("span"), c.expires));
      dl.appendChild(dd);
    }
    conv.appendChild(dl);
  }
  drawMessages(c);
  const body = $("fields").querySelector("tbody");
  body.replaceChildren();
  for (const f of d.fields) {
    const ttl = f.ttl_ms === null ? el("span", "muted", "never") : countdown(el("span"), serverNow() + f.ttl_ms);
    const tr = cells(el("tr"), [{ cls: "name", text: f.field }, ttl, { cls: "val", text: f.value }]);
    tr.dataset.field = f.field;
    body.appendChild(tr);
  }
  $("fields-empty").hidden = d.fields.length > 0;
}
function select(id) {
  S.selected = id || null;
  S.before = null;
  S.shown = null;
  drawDetail(null);
  refresh();
  if (S.selected) $("detail").scrollIntoView({ block: "start" });
}

// --- tools and models ----------------------------------------------------------------------------
function drawTools(t) {
  const body = $("tool-table").querySelector("tbody");
  body.replaceChildren();
  if (t.error) { $("tools-empty").hidden = false; $("tools-empty").textContent = t.error; return; }
  for (const row of t.tools) {
    const lookups = row.hits + row.misses;
    const from = row.kind === "tool" ? "tools" : "models";
    const trend = S.entries.map((e) => { const r = e[from][row.name]; return r && r[0] + r[1] > 0 ? r[0] / (r[0] + r[1]) : null; });
    const tr = cells(el("tr"), [row.name, row.kind, row.hits, row.misses, { cls: "num", text: pct(lookups ? row.hits / lookups : null) },
      { cls: "num", text: num(row.cost_saved) }, row.advice || "–", spark(trend, "k3")]);
    tr.dataset.name = row.name;
    body.appendChild(tr);
  }
  $("tools-empty").hidden = t.tools.length > 0;
}

// --- polling -------------------------------------------------------------------------------------
function status(text) { $("status").textContent = text; }
async function refresh() {
  if (S.busy) { S.again = true; return; } // one poll at a time; the next one right after
  S.busy = true;
  const asked = { id: S.selected, before: S.before };
  const params = new URLSearchParams();
  const last = S.entries.length ? S.entries[S.entries.length - 1].t : 0;
  params.set("since", String(last));
  if (S.selected) params.set("id", S.selected);
  if (S.selected && S.before !== null) params.set("before", String(S.before));
  if (S.selected && S.shown && S.shown.id === S.selected && S.shown.before === S.before) params.set("known", S.shown.version);
  const headers = S.key ? { Authorization: "Bearer " + S.key } : {};
  const started = performance.now();
  try {
    const response = await fetch("/dashboard/data?" + params.toString(), { headers, cache: "no-store" });
    if (response.status === 401 || response.status === 403) { status("enter the admin key (" + response.status + ")"); return; }
    if (!response.ok) { status("error " + response.status); return; }
    const text = await response.text();
    const data = JSON.parse(text);
    S.data = data;
    S.interval = data.interval || S.interval;
    S.kept = data.kept || S.kept;
    if (data.sessions && data.sessions.now) S.skew = data.sessions.now - Date.now();
    if (data.history && data.history.entries) {
      for (const e of data.history.entries) if (!S.entries.length || e.t > S.entries[S.entries.length - 1].t) S.entries.push(e);
      const oldest = serverNow() - S.kept * 1000;
      while (S.entries.length && S.entries[0].t < oldest) S.entries.shift();
    }
    drawCache();
    drawValkey(data.valkey);
    drawSessions(data.sessions);
    drawTools(data.totals);
    if (asked.id === S.selected && asked.before === S.before) drawDetail(data.detail);
    else S.again = true; // the selection changed while this poll was out
    const problems = ["history", "totals", "valkey", "sessions"].filter((k) => data[k] && data[k].error);
    status("updated " + new Date().toLocaleTimeString() + " · " + bytes(new Blob([text]).size) + " in " +
      Math.round(performance.now() - started) + " ms" + (problems.length ? " · unavailable: " + problems.join(", ") : ""));
    document.body.dataset.loaded = "1";
  } catch (e) {
    status("offline (" + (e && e.message ? e.message : "no answer") + ")");
  } finally {
    S.busy = false;
    if (S.again) { S.again = false; refresh(); }
  }
}
$("key").value = S.key;
$("login").addEventListener("submit", (ev) => ev.preventDefault());
$("key").addEventListener("change", () => { S.key = $("key").value; sessionStorage.setItem("agentcache-key", S.key); refresh(); });
$("search").addEventListener("submit", (ev) => { ev.preventDefault(); select($("q").value.trim()); });
$("q").addEventListener("input", () => { if (S.data && S.data.sessions && !S.data.sessions.error) drawSessions(S.data.sessions); });
$("detail-close").addEventListener("click", () => select(null));
setInterval(() => document.querySelectorAll(".countdown").forEach(tick), 1000);
refresh();
setInterval(refresh, 2000);
