"""The sessions dashboard: one server-rendered page and a JSON feed it polls every two seconds.

The page itself holds no data; ``/dashboard/data`` (admin scope) does: the active sessions (status,
time remaining, renewals, message count; near expiry flagged), the tool tier's hit rate, cost
saved and recommendation per tool, and, given ``?thread=``, that thread's fields with their
remaining TTLs and values (truncated). The page asks for the admin key once and keeps it in the
tab's session storage; plain JavaScript, no build step.
"""

from __future__ import annotations

import json
from typing import Any

from agentcache.facade import AsyncAgentCache
from agentcache.tiers.conversations.messages import to_json_value

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agentcache sessions</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #222 }
 h1 { font-size: 1.3rem } h2 { font-size: 1.05rem; margin-top: 1.6rem }
 table { border-collapse: collapse; min-width: 40rem } td, th { padding: .25rem .6rem; border-bottom: 1px solid #ddd;
 text-align: left } tr.near td { background: #fff3cd } .muted { color: #777 } code { font-size: 12px }
</style></head>
<body>
<h1>agentcache sessions</h1>
<p class="muted">Refreshed every 2 s. <span id="status">connecting...</span>
 <label>admin key <input id="key" type="password" size="16"></label>
 <label>thread <input id="thread" size="16"></label></p>
<h2>Active sessions</h2>
<table id="sessions"><thead><tr><th>session</th><th>agent</th><th>user</th><th>status</th>
<th>time remaining</th><th>renewals</th><th>messages</th></tr></thead><tbody></tbody></table>
<h2>Tools</h2>
<table id="tools"><thead><tr><th>tool</th><th>hits</th><th>misses</th><th>hit rate</th><th>cost saved</th>
<th>recommendation</th></tr></thead><tbody></tbody></table>
<h2>Thread fields</h2>
<table id="fields"><thead><tr><th>field</th><th>ttl (s)</th><th>value</th></tr></thead><tbody></tbody></table>
<script>
const keyInput = document.getElementById("key"), threadInput = document.getElementById("thread");
keyInput.value = sessionStorage.getItem("agentcache-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("agentcache-key", keyInput.value); refresh(); });
threadInput.addEventListener("change", refresh);
function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
function fill(id, rows, near) {
  const body = document.querySelector("#" + id + " tbody"); body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr"); if (near && near(row)) tr.className = "near";
    for (const value of row.cells) tr.appendChild(cell(value));
    tr.dataset.id = row.id; body.appendChild(tr);
  }
}
async function refresh() {
  const headers = keyInput.value ? {"Authorization": "Bearer " + keyInput.value} : {};
  const thread = threadInput.value ? "?thread=" + encodeURIComponent(threadInput.value) : "";
  try {
    const response = await fetch("/dashboard/data" + thread, {headers});
    if (!response.ok) { document.getElementById("status").textContent = "error " + response.status; return; }
    const data = await response.json();
    fill("sessions", data.sessions.map(s => ({id: s.id, near: s.near, cells: [s.id, s.agent, s.user, s.status,
      s.remaining + " s", s.renewals, s.messages]})), row => row.near);
    fill("tools", data.tools.map(t => ({id: t.name, cells: [t.name, t.hits, t.misses,
      t.hit_rate === null ? "-" : (100 * t.hit_rate).toFixed(0) + "%", t.cost_saved, t.recommendation]})));
    fill("fields", data.fields.map(f => ({id: f.field, cells: [f.field, f.ttl === null ? "never" : f.ttl, f.value]})));
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) { document.getElementById("status").textContent = "offline"; }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(to_json_value(value, "value"), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def dashboard_data(cache: AsyncAgentCache, thread: str | None) -> dict[str, Any]:
    """What the page shows, as JSON."""
    page = await cache.conversations.list_active(limit=200)
    sessions = [
        {
            "id": info.id,
            "agent": info.agent_id,
            "user": info.user_id,
            "status": info.status,
            "remaining": round(info.time_remaining.total_seconds()),
            "near": info.status == "near_expiration",
            "renewals": info.renewal_count,
            "messages": info.message_count,
        }
        for info in page
    ]
    stats = await cache.stats()
    tools = [
        {
            "name": name,
            "hits": t.hits,
            "misses": t.misses,
            "hit_rate": t.hit_rate,
            "cost_saved": t.cost_saved,
            "recommendation": str(t.recommendation.value),
        }
        for name, t in sorted(stats.tools.items())
    ]
    fields: list[dict[str, Any]] = []
    if thread:
        values = await cache.session.get_all(thread)
        for field, value in values.items():
            ttl = await cache.session.ttl(thread, field)
            fields.append({"field": field, "ttl": None if ttl is None else round(ttl), "value": _short(value)})
    return {"sessions": sessions, "tools": tools, "fields": fields}
