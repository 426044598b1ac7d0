"""``cache.monitor``: the monitor's operations bound to a cache (see the package's docstring)."""

from __future__ import annotations

from agentcache.core.binding import Bound, E, operation
from agentcache.tiers.monitor.history import history, record
from agentcache.tiers.monitor.peek import sessions, thread
from agentcache.tiers.monitor.servers import servers


class MonitorTier(Bound[E]):
    """What an operator looks at: the history over time (``record``, ``history``), the servers'
    health (``servers``), a thread's fields without refreshing them (``thread``) and the live
    conversations' expiry timeline (``sessions``)."""

    TIER = "monitor"
    record = operation(record)
    history = operation(history, reads=True)
    servers = operation(servers, reads=True)
    thread = operation(thread, reads=True)
    sessions = operation(sessions, reads=True)
