"""Server-side scripts of the conversation tier: each lifecycle transition is one atomic script call.

Every script takes the time from the server (``TIME``), so workers whose clocks disagree still agree
on when a conversation expires. A conversation's keys share one hash tag (see
``agentcache/encoding/keys.py``): ``KEYS[1]`` is its meta hash, ``KEYS[2]`` its message list.

Meta hash fields: ``id agent user system meta created last deadline timeout maxdur warn auto renewals
status ended count`` and, once compacted, ``summary sumto epoch compactions summarized`` (see
``compact.lua``; times in Unix ms by the server's clock; ``maxdur`` 0 = no cap). Both keys expire at
``deadline + grace``, so an expired conversation still reads as expired during the grace period.

Replies start with a status: ``ok``, ``missing``, ``expired`` (+ deadline), ``ended`` (+ when),
``exists`` (create over an active conversation), ``refused`` (renewal past max_duration).
Each script is a ``.lua`` file in this folder; ``prelude.lua`` starts ``create``,
``write`` and ``compact``. Its first line declares its flags for the server: the reads (``read``,
``index_read``) ``no-writes``, so they run even when the server is out of memory; the writes none,
so a server out of memory (``maxmemory-policy noeviction``) refuses them before they start, never
halfway (see ``docs/memory.md``).

The meta hash also counts the messages the history holds (``count``): the write scripts keep it
in step, and a read that finds fewer stored than counted (the list was evicted, or deleted by hand)
replies ``lost`` (+ count, stored) instead of a shorter history. A conversation stored before the
count existed has none; its first append starts one.
"""

from __future__ import annotations

from agentcache.core.commands import lua

CONV_CREATE = lua(__package__, "create", name="conv_create", prelude="prelude")
CONV_WRITE = lua(__package__, "write", name="conv_write", prelude="prelude")
CONV_READ = lua(__package__, "read", name="conv_read")
CONV_COMPACT = lua(__package__, "compact", name="conv_compact", prelude="prelude")
CONV_INDEX = lua(__package__, "index", name="conv_index")
CONV_INDEX_READ = lua(__package__, "index_read", name="conv_index_read")
