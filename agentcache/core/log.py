"""agentcache's logging: the standard ``logging`` module, logger ``"agentcache"``, silent unless
the application configures logging.

- WARNING: recoveries. The server closed an idle connection and the client reconnects (restart,
  CLIENT KILL, an idle timeout); a cluster client lost its startup nodes and got them back; a
  cluster client rediscovered its nodes (a failover, resharding, or a lost connection).
- INFO: a script sent by its body because the server did not have it (its first use on a node, or
  after a restart or SCRIPT FLUSH).
- DEBUG: every round trip, with the names of its commands (script names for scripts), how many,
  and how long it took.

No key, value, thread id, field name or other user data appears in any message at any level.
"""

from __future__ import annotations

import logging
import time

from agentcache.core.commands import Batch

LOG = logging.getLogger("agentcache")
LOG.addHandler(logging.NullHandler())  # silent by default, even without any logging configuration
DEBUG = logging.DEBUG


_LEVELS: dict[int, bool] = LOG.__dict__["_cache"]
"""``logging``'s own memo of ``LOG.isEnabledFor(level)``: emptied in place by every change that can
alter the answer (``setLevel`` on any logger, ``logging.disable``, ``dictConfig``, ...), and filled
again by the next ``isEnabledFor``. Reading it is what ``isEnabledFor`` does first, minus a call."""


def debug_enabled() -> bool:
    """``LOG.isEnabledFor(DEBUG)``, from logging's memo when it holds the answer."""
    enabled = _LEVELS.get(DEBUG)
    if enabled is None:  # emptied by a level change, or never asked: ask (which fills it again)
        return LOG.isEnabledFor(DEBUG)
    return enabled and not LOG.disabled  # ``disabled`` is checked before the memo, as isEnabledFor does


def round_trip_started() -> float:
    """A start time when round trips are logged, else 0 (and nothing else costs anything)."""
    return time.perf_counter() if debug_enabled() else 0.0


def round_trip_done(batch: Batch, started: float) -> None:
    if started:
        names = ", ".join(dict.fromkeys(command.name for command in batch))
        elapsed = (time.perf_counter() - started) * 1000
        LOG.debug("round trip: %d command(s) [%s] in %.2f ms", len(batch), names, elapsed)


def scripts_resent(batch: Batch) -> None:
    for command in batch:
        LOG.info(
            "script %s sent by its body: the server did not have it (first use on this node, or after a "
            "restart or SCRIPT FLUSH)",
            command.script.name if command.script else "?",
        )


def retrying(command: str, failures: int) -> None:
    LOG.warning("agentcache: a read (%s) failed on the connection; retrying (attempt %d)", command, failures + 1)


def recovered(what: str) -> None:
    LOG.warning("agentcache recovered: %s", what)
