"""``agentcache stats``: the shared statistics as readable tables (the ``cli`` extra: rich).

Per tier (session, tool, LLM): hits, misses, writes, hit rate; per tool: the same, cost saved and
what its hit rate suggests for its TTL; per model: tokens and cost saved. ``--watch`` redraws it
every few seconds until interrupted.
"""

from __future__ import annotations

import time
from typing import Any

from agentcache.stats import CacheStats, Recommendation, TierStats

ADVICE = {
    Recommendation.RAISE_TTL: "raise the TTL: results are reused",
    Recommendation.KEEP: "keep",
    Recommendation.LOWER_TTL_OR_STOP: "lower the TTL or stop caching: results are rarely reused",
    Recommendation.NOT_ENOUGH_DATA: "not enough lookups yet",
}


def _rate(stats: TierStats) -> str:
    rate = stats.hit_rate
    return "-" if rate is None else f"{rate:.1%}"


def render(stats: CacheStats, title: str) -> Any:
    """The statistics as a rich renderable (a group of tables)."""
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
    return Group(*parts)


def show(url: str, prefix: str | None, watch: float | None, console: Any = None) -> int:
    """Print the statistics of the caches with ``prefix`` on the server at ``url`` (once, or every
    ``watch`` seconds until Ctrl-C)."""
    from rich.console import Console
    from rich.live import Live

    from agentcache.facade import AgentCache

    console = console or Console()
    options: dict[str, Any] = {} if prefix is None else {"prefix": prefix}
    with AgentCache.from_url(url, **options) as cache:
        title = f"agentcache statistics ({cache.settings.prefix}, all processes)"
        if watch is None:
            console.print(render(cache.stats(), title))
            return 0
        with Live(render(cache.stats(), title), console=console, refresh_per_second=4) as live:
            try:
                while True:
                    time.sleep(watch)
                    live.update(render(cache.stats(), title))
            except KeyboardInterrupt:
                pass
    return 0
