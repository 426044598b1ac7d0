"""The shelf's server-side scripts (the ``.lua`` files beside this module).

A key on the shelf holds either an entry (a codec envelope: first byte 1) or, while one caller
computes it, a claim: byte 0 and that caller's token. Readers treat a claim as a miss. The scripts
keep their first names (``tool_claim``, ...): what errors and traces call them.
"""

from __future__ import annotations

from agentcache.core.commands import lua

CLAIM_MARK = b"\x00"  # first byte of a claim; a stored entry starts with the codec's version byte (1)

CLAIM = lua(__package__, "claim", name="tool_claim")
RELEASE = lua(__package__, "release", name="tool_release")
INVALIDATE = lua(__package__, "invalidate", name="tool_invalidate")
RESTORE = lua(__package__, "restore", name="tool_restore")
