"""``agentcache stats``: the shared statistics as readable tables (the ``cli`` extra: rich).

Per tier (session, tool, LLM): hits, misses, writes, hit rate; per tool: the same, cost saved and
what its hit rate suggests for its TTL; per model: tokens and cost saved. Then the server's memory
(per primary: used, ``maxmemory``, ``maxmemory-policy``), with a warning when the policy can evict
conversations or memory is nearly full (``docs/memory.md``). ``--watch`` redraws it every few
seconds until interrupted.
"""

from __future__ import annotations

import time
from typing import Any

from agentcache.stats import CacheStats, NodeMemory, Recommendation, TierStats, memory_warning, node_memory

ADVICE = {
    Recommendation.RAISE_TTL: "raise the TTL: results are reused",
    Recommendation.KEEP: "keep",
    Recommendation.LOWER_TTL_OR_STOP: "lower the TTL or stop caching: results are rarely reused",
    Recommendation.NOT_ENOUGH_DATA: "not enough lookups yet",
}


def _rate(stats: TierStats) -> str:
    rate = stats.hit_rate
    return "-" if rate is None else f"{rate:.1%}"


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def memory(client: Any) -> list[NodeMemory] | None:
    """``INFO memory`` of the server, or of each primary of a cluster; None if it cannot be read
    (the least-privilege user of docs/acl.md may not run INFO, an ``@dangerous`` command)."""
    try:
        if hasattr(client, "get_primaries"):
            return [node_memory(n.name, client.info("memory", target_nodes=n)) for n in client.get_primaries()]
        kwargs = client.get_connection_kwargs()
        return [node_memory(f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}", client.info("memory"))]
    except Exception:
        return None


def render(stats: CacheStats, title: str, nodes: list[NodeMemory] | None = None) -> Any:
    """The statistics as a rich renderable (a group of tables); ``nodes``: the server's memory."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tiers = Table(title="tiers", title_justify="left")
    for column in ("tier", "hits", "misses", "writes", "hit rate"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for name, tier in (("session", stats.session), ("tool", stats.tool), ("llm", stats.llm)):
        tiers.add_row(name, str(tier.hits), str(tier.misses), str(tier.writes), _rate(tier))
    parts: list[Any] = [Text(title, style="bold"), tiers]
    if stats.tools:
        tools = Table(title="tools", title_justify="left")
        for column in ("tool", "hits", "misses", "hit rate", "cost saved", "TTL"):
            tools.add_column(column, justify="left" if column in ("tool", "TTL") else "right")
        for name, tool in sorted(stats.tools.items()):
            advice = ADVICE[tool.recommendation]
            tools.add_row(name, str(tool.hits), str(tool.misses), _rate(tool), f"{tool.cost_saved:.4g}", advice)
        parts.append(tools)
    if stats.models:
        models = Table(title="models", title_justify="left")
        for column in (
            "model",
            "hits",
            "misses",
            "hit rate",
            "input tokens saved",
            "output tokens saved",
            "cost saved",
        ):
            models.add_column(column, justify="left" if column == "model" else "right")
        for name, model in sorted(stats.models.items()):
            models.add_row(
                name,
                str(model.hits),
                str(model.misses),
                _rate(model),
                str(model.input_tokens_saved),
                str(model.output_tokens_saved),
                f"{model.cost_saved:.4g}",
            )
        parts.append(models)
    if nodes is None:
        parts.append(Text("memory: not readable (INFO refused: it needs a user allowed +info)", style="dim"))
    else:
        table = Table(title="memory", title_justify="left")
        for column in ("server", "used", "maxmemory", "policy"):
            table.add_column(column, justify="right" if column in ("used", "maxmemory") else "left")
        for node in nodes:
            limit = _bytes(node.maximum) if node.maximum else "no limit"
            table.add_row(node.node, _bytes(node.used), limit, node.policy)
        parts.append(table)
        warning = memory_warning(nodes)
        if warning:
            parts.append(Text(f"warning: {warning}", style="bold yellow"))
    return Group(*parts)


def show(url: str, prefix: str | None, watch: float | None, console: Any = None) -> int:
    """Print the statistics of the caches with ``prefix`` on the server at ``url`` (once, or every
    ``watch`` seconds until Ctrl-C, which propagates as ``KeyboardInterrupt``: the command exits 130).

    On a terminal the tables are redrawn in place; otherwise (``agentcache stats --watch | tee log``)
    each refresh is printed below the last one, with its time, and flushed at once."""
    from rich.console import Console
    from rich.live import Live

    from agentcache.facade import AgentCache

    console = console or Console()
    options: dict[str, Any] = {} if prefix is None else {"prefix": prefix}
    with AgentCache.from_url(url, **options) as cache:
        title = f"agentcache statistics ({cache.settings.prefix}, all processes)"
        if watch is None:
            console.print(render(cache.stats(), title, memory(cache.client)))
            return 0

        def frame() -> Any:
            return render(cache.stats(), f"{title} at {time.strftime('%H:%M:%S')}", memory(cache.client))

        if not console.is_terminal or console.is_dumb_terminal:  # Live would print only when stopped
            while True:
                console.print(frame())
                console.file.flush()
                time.sleep(watch)
        with Live(frame(), console=console, refresh_per_second=4) as live:
            while True:
                time.sleep(watch)
                live.update(frame())
