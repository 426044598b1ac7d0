"""The servers' health, per primary: memory and its policy, evictions, clients, load, replication,
and how many keys each tier holds; on a cluster, its state and the changes of primaries seen.

One round trip per primary (``node.lua``: the wanted fields of ``INFO`` and ``CLUSTER INFO``, read
and picked on the server so the reply stays small, and a bounded census of the keys), and one more
to count changes of primaries (``primaries.lua``). The census looks at every key of a primary that
holds at most ``census_keys`` (``SCAN``: exact); above that it looks at the first
:data:`CENSUS_SAMPLES` keys ``SCAN`` gives (in the order of a hash of their names: a sample at
random with respect to the names) and scales their shares to the primary's key count
(``Census.exact`` says which). The server spends about a millisecond on it at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentcache.core.commands import PRIMARIES, Operation, lua
from agentcache.encoding.keys import census_heads, primaries_key
from agentcache.errors import BackendError, InvalidArgumentError, shown
from agentcache.stats import NodeMemory, node_memory

NODE = lua(__package__, "node", name="monitor_node")
PRIMARIES_SEEN = lua(__package__, "primaries", name="monitor_primaries")
CENSUS_KEYS = 1000
"""Up to this many keys on a primary, the census counts each one."""
CENSUS_SAMPLES = 300
"""Above :data:`CENSUS_KEYS`, how many keys the census samples (a share is then within about ±6
points, at 95% confidence)."""


@dataclass(frozen=True, slots=True)
class Replica:
    """A replica as its primary reports it (``INFO replication``)."""

    address: str
    state: str
    lag_s: int | None


@dataclass(frozen=True, slots=True)
class Census:
    """The keys of one server by tier (``other``: this prefix, no tier; ``foreign``: other prefixes)."""

    total: int
    """Keys in the server's database (``DBSIZE``)."""
    tiers: dict[str, int]
    exact: bool
    """Whether every key was looked at (else the counts are the sample's shares of ``total``)."""


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """One server (a cluster's primary each)."""

    node: str
    readable: bool
    """Whether ``INFO`` answered (a user without ``+info`` gets only the census)."""
    memory: NodeMemory | None
    role: str = "?"
    run_id: str = ""
    version: str = ""
    uptime_s: int = 0
    clients: int = 0
    blocked_clients: int = 0
    evicted_keys: int = 0
    expired_keys: int = 0
    ops_per_sec: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    replicas: list[Replica] = field(default_factory=list)
    link_status: str | None = None
    """On a replica: ``up`` or ``down``."""
    promoted: bool = False
    """It took over from another primary (a failover) since it started (``second_repl_offset``)."""
    census: Census | None = None
    error: str | None = None
    """Why the node did not answer (unreachable, during a failover say); the rest is then empty."""


@dataclass(frozen=True, slots=True)
class ServerHealth:
    nodes: list[NodeHealth]
    cluster: dict[str, str] | None
    """``cluster_state``, ``cluster_current_epoch``, ``cluster_known_nodes``, ``cluster_size``; None: not a cluster."""
    primary_changes: int | None
    """Primaries replaced (failover) or restarted since the monitor first looked; None: unknown."""


def _text(raw: Any) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _pairs(flat: Any) -> dict[str, str]:
    items = [_text(x) for x in (flat or [])]
    return dict(zip(items[::2], items[1::2], strict=False))


def _int(info: dict[str, str], name: str) -> int:
    try:
        return int(float(info.get(name, "0")))
    except ValueError:
        return 0


def _replica(line: str) -> Replica:
    parts = dict(item.split("=", 1) for item in line.split(",") if "=" in item)
    lag = parts.get("lag")
    return Replica(
        f"{parts.get('ip', '?')}:{parts.get('port', '?')}", parts.get("state", "?"), int(lag) if lag else None
    )


def _census(raw: Any, labels: list[str]) -> Census | None:
    if not isinstance(raw, list) or len(raw) < 3 + len(labels) + 1:
        return None
    examined, complete, total, *counts = (int(n) for n in raw)
    tiers: dict[str, int] = {}
    for label, count in zip([*labels, "foreign"], counts, strict=True):
        tiers[label] = tiers.get(label, 0) + count
    if not complete and examined:
        tiers = {label: round(count * total / examined) for label, count in tiers.items()}
    return Census(total, tiers, bool(complete))


def parse_node(name: str, reply: Any, labels: list[str]) -> tuple[NodeHealth, dict[str, str]]:
    """A :class:`NodeHealth` and the cluster fields from a ``node.lua`` reply (None: unreadable)."""
    if not isinstance(reply, list) or len(reply) != 3:
        return NodeHealth(name, False, None), {}
    info, cluster = _pairs(reply[0]), _pairs(reply[1])
    census = _census(reply[2], labels)
    if not info:
        return NodeHealth(name, False, None, census=census), cluster
    second = info.get("second_repl_offset", "-1")
    health = NodeHealth(
        node=name,
        readable=True,
        memory=node_memory(name, info),
        role=info.get("role", "?"),
        run_id=info.get("run_id", ""),
        version=info.get("valkey_version") or info.get("redis_version", ""),
        uptime_s=_int(info, "uptime_in_seconds"),
        clients=_int(info, "connected_clients"),
        blocked_clients=_int(info, "blocked_clients"),
        evicted_keys=_int(info, "evicted_keys"),
        expired_keys=_int(info, "expired_keys"),
        ops_per_sec=_int(info, "instantaneous_ops_per_sec"),
        keyspace_hits=_int(info, "keyspace_hits"),
        keyspace_misses=_int(info, "keyspace_misses"),
        replicas=[_replica(v) for k, v in sorted(info.items()) if k.startswith("slave") and k[5:].isdigit()],
        link_status=info.get("master_link_status"),
        promoted=second not in ("", "-1", "0"),
        census=census,
    )
    return health, cluster


def servers(s: Any, census_keys: int = CENSUS_KEYS) -> Operation[ServerHealth]:
    """Each primary's health and key census (see the module's docstring). One round trip per
    primary, and one to count changes of primaries. A primary that cannot be reached is reported
    with its ``error``, not raised."""
    if isinstance(census_keys, bool) or not isinstance(census_keys, int) or not 0 <= census_keys <= 100_000:
        raise InvalidArgumentError(f"census_keys must be an int from 0 to 100000, not {shown(census_keys)}")
    heads = census_heads(s.options.prefix)
    labels = [label for label, _ in heads]
    script = NODE([], census_keys, CENSUS_SAMPLES, *(head for _, head in heads))
    nodes = yield PRIMARIES
    found: list[NodeHealth] = []
    cluster: dict[str, str] = {}
    for node in nodes:
        name = "server" if node is None else str(node.name)
        try:
            (reply,) = yield [script._replace(node=node, optional=True)]
        except BackendError as exc:  # one node down (a failover under way) leaves the others on show
            found.append(NodeHealth(name, False, None, error=str(exc)))
            continue
        health, fields = parse_node(name, reply, labels)
        found.append(health)
        cluster = cluster or fields
    run_ids = [n.run_id for n in found if n.run_id]
    changes = None
    if run_ids:
        (reply,) = yield [PRIMARIES_SEEN([primaries_key(s.options.prefix)], *run_ids)._replace(optional=True)]
        changes = None if reply is None else int(reply)
    return ServerHealth(found, cluster or None, changes)
