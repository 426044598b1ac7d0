"""The semantic tier's server-side scripts (the ``.lua`` files beside this module, after ``prelude.lua``)."""

from __future__ import annotations

from agentcache.core.commands import lua

STORE = lua(__package__, "store", name="semantic_store", prelude="prelude")
LOOKUP = lua(__package__, "lookup", name="semantic_lookup", prelude="prelude")
REMOVE = lua(__package__, "remove", name="semantic_remove", prelude="prelude")
DROP = lua(__package__, "drop", name="semantic_drop")  # no prelude: it only removes
