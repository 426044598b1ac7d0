"""The conversation index's bucket tags (no server: the tags and their slots are computed here)."""

from __future__ import annotations


def test_the_bucket_tags_sit_evenly_in_slot_order() -> None:
    from valkey.crc import key_slot

    from agentcache.encoding.keys import INDEX_BUCKETS, SLOTS, index_tag

    for prefix in ("agentcache", "app", "x"):
        slots = [key_slot(index_tag(prefix, b).encode()) for b in range(INDEX_BUCKETS)]
        assert [slot * INDEX_BUCKETS // SLOTS for slot in slots] == list(range(INDEX_BUCKETS))
