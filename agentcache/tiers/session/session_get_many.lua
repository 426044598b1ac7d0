#!lua flags=allow-oom
-- session_get_many (after slide.lua): read several fields of one thread and slide each hit's expiry
-- by the TTL in its own header, in one call.
-- KEYS: the fields' keys (one thread: one slot). Returns one value (or nil) per key, in order.
local out = {}
for i, k in ipairs(KEYS) do
  out[i] = read(k) or false
end
return out
