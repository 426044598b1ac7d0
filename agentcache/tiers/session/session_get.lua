#!lua flags=allow-oom
-- session_get: read a field and slide its expiry by the TTL in its header, in one call.
-- KEYS[1]: the field's key. Returns the value, or nil.
local v = redis.call('GET', KEYS[1])
if v and #v >= 7 and string.byte(v, 1) == 1 then
  local a, b, c, d, e, f = string.byte(v, 2, 7)
  local ms = ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
  if ms > 0 then redis.call('PEXPIRE', KEYS[1], ms) end
end
return v
