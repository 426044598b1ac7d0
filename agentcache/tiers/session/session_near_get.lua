#!lua flags=allow-oom
-- session_near_get: session_get for a cache with a near cache. It slides the field's expiry only when
-- less than ARGV[1] (a fraction) of its TTL is left: every refresh is a change the server reports to
-- every process's near cache, and refreshing on each read would make the processes that share a
-- field drop each other's copies in turn.
-- KEYS[1]: the field's key. ARGV[1]: the fraction. Returns nil, or {value, 1 if it was refreshed else 0}.
local v = redis.call('GET', KEYS[1])
if not v then return nil end
local refreshed = 0
if #v >= 7 and string.byte(v, 1) == 1 then
  local a, b, c, d, e, f = string.byte(v, 2, 7)
  local ms = ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
  if ms > 0 and redis.call('PTTL', KEYS[1]) < ms * tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], ms)
    refreshed = 1
  end
end
return {v, refreshed}
