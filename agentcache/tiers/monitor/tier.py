"""``cache.monitor``: the monitor's operations bound to a cache (see the package's docstring)."""

from __future__ import annotations

from agentcache.core.binding import Bound, E, operation
from agentcache.tiers.monitor.history import history, record
from agentcache.tiers.monitor.peek import sessions
from agentcache.tiers.monitor.servers import servers


class MonitorTier(Bound[E]):
    """What an operator looks at: the history over time (``record``, ``history``), the servers'
    health (``servers``) and the live conversations' expiry timeline (``sessions``). A thread's
    fields without refreshing them: ``cache.session.peek``."""

    TIER = "monitor"
    record = operation(record)
    history = operation(history, reads=True)
    servers = operation(servers, reads=True)
    sessions = operation(sessions, reads=True)
