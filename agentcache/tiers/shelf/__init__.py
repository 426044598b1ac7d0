"""The shared shelf: entries stored the same way by the tool and LLM tiers (and any tier like them).

An entry lives at one key: a codec envelope holding its value, when it was stored and when it expires,
then what its tier adds (``entries.py``). While one caller computes a missing entry the key holds that
caller's claim instead (``flight.py``, over ``claim.lua``/``release.lua``), so a computation runs
once however many threads, tasks and processes ask. Each kind of entry has TTL policies kept in
Valkey, by name (a tool, a model), so every worker applies the same one (``policies.py``).
"""
