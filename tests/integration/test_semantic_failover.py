"""The semantic tier on a 3-primary cluster with a replica each: a primary SIGKILLed under load fails
over, every failure in between is a BackendError, the same cache goes on by itself, and the scopes
written before (replicated) still answer afterwards, on every primary."""

from __future__ import annotations

import time
from typing import Any

from agentcache import AgentCache, BackendError
from agentcache.testing import unique_prefix, valkey_server
from tests.semantic_fakes import WordsEmbedder

TENANTS = [f"tenant-{i}" for i in range(24)]  # scopes spread over every primary's slots
RECOVERY_LIMIT_S = 30.0


def ask(text: str) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], "temperature": 0}


def test_a_killed_primary_fails_over_and_the_index_answers_again() -> None:
    import valkey

    with valkey_server("cluster3r") as cluster, AgentCache.from_url(cluster.url, prefix=unique_prefix()) as cache:
        cache.semantic.configure(embedder=WordsEmbedder(), threshold=0.8)
        for tenant in TENANTS:
            cache.semantic.store(ask(f"how do I reset my password for {tenant}"), {"a": tenant}, scope={"t": tenant})
        raw = valkey.ValkeyCluster.from_url(cluster.url)
        try:
            owners = {raw.keyslot(cache.semantic.key(ask("x"), scope={"t": t}) or "") for t in TENANTS}
            assert len(owners) > 3  # the scopes spread over slots
        finally:
            raw.close()
        time.sleep(1.5)  # let the replicas catch up (replication is asynchronous)
        cluster.nodes[1].kill()
        killed_at = time.monotonic()
        failures: list[BaseException] = []
        while True:
            assert time.monotonic() - killed_at < RECOVERY_LIMIT_S, f"no recovery; last errors {failures[-3:]}"
            clean = True
            for tenant in TENANTS:
                try:
                    cache.semantic.check(ask(f"how do I reset my password for {tenant}"), scope={"t": tenant})
                    cache.semantic.store(ask(f"after the failover {tenant}"), {"b": tenant}, scope={"t": tenant})
                except Exception as exc:
                    failures.append(exc)
                    clean = False
            if clean:
                break
            time.sleep(0.05)
        assert all(isinstance(exc, BackendError) for exc in failures), [type(e) for e in failures]
        for tenant in TENANTS:
            found = cache.semantic.check(ask(f"how do I reset my password for {tenant}"), scope={"t": tenant})
            assert found.hit and found.response == {"a": tenant}
            assert cache.semantic.check(ask(f"after the failover {tenant}"), scope={"t": tenant}).response == {
                "b": tenant
            }
