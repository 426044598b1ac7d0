"""Server-side scripts. Each runs atomically in one round trip.

The sliding refresh reads the field's own TTL from the value's header (see ``codec.py``) so a read
and its refresh are one command.
"""

from __future__ import annotations

from .commands import Script


def _slide(key: str, value: str) -> str:
    """Lua that PEXPIREs ``key`` by the sliding TTL (ms) in the 7-byte header of ``value``; no-op
    without one. Inlined where it is used, so the hot read defines no function per call."""
    return f"""
if {value} and #{value} >= 7 and string.byte({value}, 1) == 1 then
  local a, b, c, d, e, f = string.byte({value}, 2, 7)
  local ms = ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
  if ms > 0 then redis.call('PEXPIRE', {key}, ms) end
end
"""


_SLIDE = "local function slide(k, v)" + _slide("k", "v") + "end\n"

SESSION_GET = Script("session_get", "local v = redis.call('GET', KEYS[1])" + _slide("KEYS[1]", "v") + "return v\n")

# One SCAN step over a thread's keys and the work on what it found, in one round trip.
# KEYS[1]: a key in the thread's slot (routing only). ARGV: mode, cursor, pattern, count.
# Modes: 'get' -> cursor, key1, value1, ...  (values refreshed by their own TTL)
#        'touch' -> cursor, key1, ...          (refreshed by their own TTL)
#        'keys' -> cursor, key1, ...           (nothing refreshed)
#        'unlink' -> cursor, removed count
# On a cluster-mode server the pattern names the thread's hash tag, so the SCAN stays in one slot.
SESSION_SCAN = Script(
    "session_scan",
    _SLIDE
    + """
local mode = ARGV[1]
local found = redis.call('SCAN', ARGV[2], 'MATCH', ARGV[3], 'COUNT', ARGV[4])
local keys = found[2]
local out = {found[1]}
if mode == 'unlink' then
  local n = 0
  for i = 1, #keys, 1000 do
    n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
  end
  out[2] = n
  return out
end
for _, k in ipairs(keys) do
  if mode == 'get' then
    local v = redis.call('GET', k)
    if v then
      slide(k, v)
      out[#out + 1] = k
      out[#out + 1] = v
    end
  elseif mode == 'touch' then
    local head = redis.call('GETRANGE', k, 0, 6)
    if head ~= '' then
      slide(k, head)
      out[#out + 1] = k
    end
  else
    out[#out + 1] = k
  end
end
return out
""",
)


# The tool tier. A tool-result key holds either a result (a codec envelope: first byte 1) or, while
# one caller computes it, a lock: byte 0 and that caller's token. Readers treat a lock as a miss
# (check is a plain GET and looks at the first byte itself).

# ARGV: lock (0 byte + token), lock timeout ms.
# -> nil: claimed, the caller computes | integer: ms until someone else's claim lapses | string: the result
TOOL_CLAIM = Script(
    "tool_claim",
    """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
if string.byte(v, 1) == 0 then return redis.call('PTTL', KEYS[1]) end
return v
""",
)

# Give up a claim (the function failed): remove the lock only if it is still this caller's.
TOOL_RELEASE = Script(
    "tool_release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""",
)

# Remove a result (not a lock: a computation in flight stores its result when it finishes). -> 1 | 0
TOOL_INVALIDATE = Script(
    "tool_invalidate",
    """
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) ~= 0 then return redis.call('UNLINK', KEYS[1]) end
return 0
""",
)

# Store again with the TTL of a policy learnt in the same round trip as the first store, but only if
# that first write is still there (not invalidated or overwritten meanwhile).
# ARGV: first write, the entry to write instead, its TTL in ms (0: none). -> 1 written | 0 left alone
TOOL_RESTORE = Script(
    "tool_restore",
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
""",
)
