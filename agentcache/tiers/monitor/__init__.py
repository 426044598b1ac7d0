"""The monitor tier (``cache.monitor``): what an operator looks at, the dashboard's data.

The history over time of the shared counts and of each operation's timings (:mod:`.history`), the
servers' health per primary (:mod:`.servers`), and reads that change nothing: a thread's fields
with their time left, the live conversations' expiry timeline (:mod:`.peek`).
"""
