"""The dashboard's data: the JSON ``/dashboard/data`` (admin scope) answers, and the recorder that
keeps the history it charts.

The page (:mod:`.dashboard_page`) holds no data; it polls the feed every two seconds with the admin
key. A poll costs, per section (round trips; ``P`` = primaries):

- history: 1 (the entries after ``since``: a page only fetches what it has not seen);
- totals per tier, tool and model: 1 (``cache.stats()``);
- Valkey: ``P + 1`` (``cache.monitor.servers()``);
- sessions: 3 (``cache.monitor.sessions()`` for counts and the expiry timeline, then
  ``list_active``: the index, and each listed conversation's info);
- a thread or session looked up (``id=``): 1 for the thread's fields (``cache.session.peek``:
  nothing is refreshed), 3 for a conversation (``get``, ``info``, one page of messages; 2 while its
  message count and last activity are those the page was sent, ``known=``: then no messages are sent).

The sections run concurrently. Every string is cut to a bounded length here (values, names, message
text) and images are passed only as small ``data:`` URLs of raster types; the page puts text in
with ``textContent`` only.

:func:`recording` runs :func:`~agentcache.tiers.monitor.history.record` every interval while the
app runs: each worker process ships its own timings, and one entry per interval is kept.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from agentcache.errors import AgentCacheError, DataLostError, SessionEnded, SessionExpired, SessionNotFound
from agentcache.facade import AsyncAgentCache
from agentcache.stats import memory_warning
from agentcache.stats_view import ADVICE
from agentcache.tiers.content.messages import DataPart, ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from agentcache.tiers.monitor.history import INTERVAL_S, KEPT_S, Entry
from agentcache.tiers.monitor.servers import NodeHealth
from agentcache.tiers.session.tier import FieldView

log = logging.getLogger("agentcache.http.dashboard")

TEXT_CHARS = 400
"""Longest text (a value, a message part) sent to the page; longer is cut with an ellipsis."""
NAME_CHARS = 80
"""Longest name (thread, field, tool, model, agent, user)."""
THUMBNAIL_BYTES = 48 * 1024
"""Largest image sent to the page as a thumbnail (a ``data:`` URL); larger ones by size only."""
FIELDS_SHOWN = 200
"""Most fields of a thread sent to the page."""
SESSIONS_LISTED = 50
MESSAGES_PAGE = 20
RASTER = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def cut(text: str, limit: int = TEXT_CHARS) -> str:
    """``text``, at most ``limit`` characters (an ellipsis marks a cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(value: Any, limit: int = TEXT_CHARS) -> str:
    """Any stored value as short JSON-ish text (bytes by size)."""

    def fallback(item: Any) -> Any:
        if isinstance(item, bytes | bytearray | memoryview):
            return f"<{len(bytes(item))} bytes>"
        return repr(item)

    try:
        text = json.dumps(value, ensure_ascii=False, default=fallback)
    except (TypeError, ValueError):
        text = repr(value)
    return cut(text, limit)


# --- history -------------------------------------------------------------------------------------


def _split(counts: dict[str, float]) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    """An entry's counts as [hits, misses, writes] per tier and [hits, misses, cost saved] per tool and model."""
    tiers = {tier: [0.0, 0.0, 0.0] for tier in ("session", "tool", "llm")}
    named: dict[str, dict[str, list[float]]] = {"tool": {}, "llm": {}}
    slots = {"hits": 0, "misses": 1, "writes": 2}
    for name, amount in counts.items():
        parts = name.split("/", 2)
        if len(parts) == 2 and parts[0] in tiers and parts[1] in slots:
            tiers[parts[0]][slots[parts[1]]] += amount
        elif len(parts) == 3 and parts[0] in named and parts[1] in ("hits", "misses", "cost_saved"):
            row = named[parts[0]].setdefault(cut(parts[2], NAME_CHARS), [0.0, 0.0, 0.0])
            row[{"hits": 0, "misses": 1, "cost_saved": 2}[parts[1]]] += amount
    return tiers, named


def entry_json(entry: Entry) -> dict[str, Any]:
    """One history entry as the page charts it (compact: lists, not objects)."""
    tiers, named = _split(entry.counts)
    return {
        "t": entry.at,
        "s": round(entry.seconds, 3),
        "tiers": tiers,
        "tools": named["tool"],
        "models": named["llm"],
        "ops": {
            cut(name, NAME_CHARS): [t.calls, t.errors, t.near_hits, t.p50_ms, t.p99_ms]
            for name, t in entry.operations.items()
        },
    }


async def history_section(cache: AsyncAgentCache, since: int) -> dict[str, Any]:
    return {"entries": [entry_json(e) for e in await cache.monitor.history(since)]}


# --- totals --------------------------------------------------------------------------------------


async def totals_section(cache: AsyncAgentCache) -> dict[str, Any]:
    stats = await cache.stats()
    tiers = {
        name: {"hits": t.hits, "misses": t.misses, "writes": t.writes}
        for name, t in (("session", stats.session), ("tool", stats.tool), ("llm", stats.llm))
    }
    tools: list[dict[str, Any]] = [
        {
            "name": cut(name, NAME_CHARS),
            "kind": "tool",
            "hits": t.hits,
            "misses": t.misses,
            "cost_saved": t.cost_saved,
            "recommendation": str(t.recommendation.value),
            "advice": ADVICE[t.recommendation],
        }
        for name, t in stats.tools.items()
    ]
    models: list[dict[str, Any]] = [
        {
            "name": cut(name, NAME_CHARS),
            "kind": "model",
            "hits": m.hits,
            "misses": m.misses,
            "cost_saved": m.cost_saved,
            "recommendation": "",
            "advice": "",
            "tokens_saved": m.input_tokens_saved + m.output_tokens_saved,
        }
        for name, m in stats.models.items()
    ]
    rows = sorted(tools + models, key=lambda r: (-r["cost_saved"], -(r["hits"] + r["misses"]), r["name"]))
    return {"tiers": tiers, "tools": rows}


# --- valkey --------------------------------------------------------------------------------------


def node_json(node: NodeHealth) -> dict[str, Any]:
    census = node.census
    return {
        "node": cut(node.node, NAME_CHARS),
        "readable": node.readable,
        "role": node.role,
        "version": cut(node.version, 20),
        "uptime_s": node.uptime_s,
        "used": None if node.memory is None else node.memory.used,
        "max": None if node.memory is None else node.memory.maximum,
        "policy": None if node.memory is None else cut(node.memory.policy, 40),
        "evicts_agent_state": bool(node.memory and node.memory.evicts_conversations),
        "evicted": node.evicted_keys,
        "expired": node.expired_keys,
        "clients": node.clients,
        "blocked": node.blocked_clients,
        "ops_per_sec": node.ops_per_sec,
        "replicas": [
            {"address": cut(r.address, NAME_CHARS), "state": cut(r.state, 20), "lag": r.lag_s} for r in node.replicas
        ],
        "link": node.link_status,
        "promoted": node.promoted,
        "keys": None if census is None else {"total": census.total, "exact": census.exact, "tiers": census.tiers},
        "error": None if node.error is None else cut(node.error, 200),
    }


async def valkey_section(cache: AsyncAgentCache) -> dict[str, Any]:
    health = await cache.monitor.servers()
    return {
        "nodes": [node_json(n) for n in health.nodes],
        "cluster": None if health.cluster is None else {k: cut(v, 40) for k, v in health.cluster.items()},
        "primary_changes": health.primary_changes,
        "warning": memory_warning([n.memory for n in health.nodes if n.memory is not None]),
    }


# --- sessions ------------------------------------------------------------------------------------


async def sessions_section(cache: AsyncAgentCache) -> dict[str, Any]:
    counts = await cache.monitor.sessions()
    page = await cache.conversations.list_active(limit=SESSIONS_LISTED)
    listed = [
        {
            "id": cut(info.id, NAME_CHARS),
            "agent": cut(info.agent_id, NAME_CHARS),
            "user": cut(info.user_id, NAME_CHARS),
            "status": info.status,
            "expires": round(info.expires_at.timestamp() * 1000),
            "remaining": round(info.time_remaining.total_seconds()),
            "renewals": info.renewal_count,
            "messages": info.message_count,
        }
        for info in page
    ]
    near = sum(1 for s in listed if s["status"] == "near_expiration")
    return {
        "now": counts.now_ms,
        "live": counts.live,
        "near": near,
        "near_exact": len(listed) < SESSIONS_LISTED or listed[-1]["status"] != "near_expiration",
        "renewals": sum(s["renewals"] for s in listed),
        "expiring": counts.expiring,
        "bin_s": counts.bin_ms / 1000,
        "list": listed,
        "more": page.cursor is not None,
    }


# --- one thread or conversation --------------------------------------------------------------------


def _image(part: ImagePart) -> dict[str, Any]:
    mime = (part.mime_type or "").lower()
    out: dict[str, Any] = {"type": "image", "mime": cut(mime, 40), "name": cut(part.name or "", NAME_CHARS)}
    if part.data is not None:
        out["size"] = len(part.data)
        if mime in RASTER and len(part.data) <= THUMBNAIL_BYTES:
            out["src"] = f"data:{mime};base64,{base64.b64encode(part.data).decode('ascii')}"
        return out
    url = part.url or ""
    head = url[:40].lower()
    if any(head.startswith(f"data:{m};base64,") for m in RASTER) and len(url) <= THUMBNAIL_BYTES * 4 // 3 + 40:
        out["src"] = url
    else:
        out["url"] = cut(url, TEXT_CHARS)  # shown as text: the page loads no image from elsewhere
    return out


def part_json(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": cut(part.text)}
    if isinstance(part, ImagePart):
        return _image(part)
    if isinstance(part, ToolCallPart):
        return {"type": "tool_call", "name": cut(part.name, NAME_CHARS), "text": preview(part.arguments)}
    if isinstance(part, ToolResultPart):
        return {"type": "tool_result", "error": part.is_error, "text": preview(part.content)}
    if isinstance(part, DataPart):
        return {"type": "data", "text": preview(part.data)}
    return {"type": "other", "text": preview(part)}


def message_json(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "parts": [part_json(p) for p in message.parts[:20]],
        "more_parts": max(0, len(message.parts) - 20),
        "metadata": preview(message.metadata, 200) if message.metadata else "",
    }


def field_json(view: FieldView) -> dict[str, Any]:
    if view.error is not None:
        shown = f"(unreadable: {cut(view.error, 120)})"
    elif view.size is not None:
        shown = f"({view.size} bytes: too large to show)"
    else:
        shown = preview(view.value)
    return {"field": cut(view.field, NAME_CHARS), "ttl_ms": view.ttl_ms, "value": shown}


def _version(info: Any) -> str:
    """What changes when a conversation's messages may have: their count and the last activity."""
    return f"{info.message_count}:{round(info.last_activity.timestamp() * 1000)}"


async def _conversation(
    cache: AsyncAgentCache, session_id: str, before: int | None, known: str | None
) -> dict[str, Any] | None:
    """The conversation's info and one page of messages (not read again, ``"messages": None``, when
    the page says it has them: ``known`` is the ``version`` it was sent); None if there is no such
    conversation."""
    try:
        conv = await cache.conversations.get(session_id)
    except SessionNotFound:
        return None
    except SessionExpired as exc:  # its keys stay for the grace period, but it is gone for its users
        return {"status": "ended" if isinstance(exc, SessionEnded) else "expired", "note": cut(str(exc), 200)}
    info = await conv.info()
    out: dict[str, Any] = {
        "agent": cut(info.agent_id, NAME_CHARS),
        "user": cut(info.user_id, NAME_CHARS),
        "status": info.status,
        "created": round(info.created_at.timestamp() * 1000),
        "expires": round(info.expires_at.timestamp() * 1000),
        "remaining": round(info.time_remaining.total_seconds()),
        "renewals": info.renewal_count,
        "count": info.message_count,
        "messages": [],
        "cursor": None,
        "before": before,
        "version": _version(info),
    }
    if known is not None and known == out["version"]:
        out["messages"] = None  # unchanged: the page keeps what it shows
        return out
    try:
        page = await conv.messages(limit=MESSAGES_PAGE, before=before)
    except DataLostError as exc:
        out["note"] = cut(str(exc), 300)
        return out
    out["messages"], out["cursor"] = [message_json(m) for m in page], page.cursor
    return out


async def detail_section(cache: AsyncAgentCache, key: str, before: int | None, known: str | None) -> dict[str, Any]:
    fields, conversation = await asyncio.gather(
        cache.session.peek(key, limit=FIELDS_SHOWN), _conversation(cache, key, before, known)
    )
    return {
        "id": cut(key, NAME_CHARS),
        "fields": [field_json(f) for f in fields],
        "conversation": conversation,
    }


# --- the feed ------------------------------------------------------------------------------------


async def _guarded(name: str, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A section's data, or its error (one failing section leaves the others on the page)."""
    try:
        return await work
    except AgentCacheError as exc:
        log.warning("dashboard %s: %s", name, exc)
        return {"error": cut(f"{type(exc).__name__}: {exc}", 300)}


async def dashboard_data(
    cache: AsyncAgentCache,
    *,
    since: int = 0,
    key: str | None = None,
    before: int | None = None,
    known: str | None = None,
    interval: float | None = INTERVAL_S,
) -> dict[str, Any]:
    """What the page shows, as JSON: history entries after ``since`` (Unix ms), totals, Valkey,
    sessions, and with ``key`` that thread's fields and that conversation's messages (a page
    ending before the cursor ``before``; not sent again while their ``version`` is ``known``)."""
    work = {
        "history": history_section(cache, since),
        "totals": totals_section(cache),
        "valkey": valkey_section(cache),
        "sessions": sessions_section(cache),
    }
    if key:
        work["detail"] = detail_section(cache, key, before, known)
    results = await asyncio.gather(*(_guarded(name, job) for name, job in work.items()))
    data: dict[str, Any] = dict(zip(work, results, strict=True))
    data["interval"] = interval
    data["kept"] = KEPT_S
    data.setdefault("detail", None)
    return data


# --- the recorder --------------------------------------------------------------------------------


async def _record_every(cache: AsyncAgentCache, interval: float) -> None:
    failing = False
    while True:
        try:
            await cache.monitor.record(interval=interval, kept=KEPT_S)
            failing = False
        except AgentCacheError as exc:
            (log.debug if failing else log.warning)("dashboard history not recorded: %s", exc)
            failing = True
        # wake just after the next interval starts (a little spread, so workers do not all come at once)
        await asyncio.sleep(interval - time.time() % interval + random.uniform(0, min(1.0, interval / 10)))


@contextlib.asynccontextmanager
async def recording(cache: AsyncAgentCache, interval: float | None) -> AsyncIterator[None]:
    """Record the history every ``interval`` seconds while the block runs (None: not at all)."""
    if not interval:
        yield
        return
    task = asyncio.create_task(_record_every(cache, interval), name="agentcache-dashboard-history")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
