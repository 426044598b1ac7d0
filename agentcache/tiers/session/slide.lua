-- slide (the start of session_scan, session_get_many and user_part): slide(k, v) refreshes key k
-- by the sliding TTL in the header of its value v (version byte 1, then 6 bytes of milliseconds;
-- 0 = do not slide); read(k) is GET k with that refresh on a hit.
local function slide(k, v)
  if v and #v >= 7 and string.byte(v, 1) == 1 then
    local a, b, c, d, e, f = string.byte(v, 2, 7)
    local ms = ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
    if ms > 0 then redis.call('PEXPIRE', k, ms) end
  end
end
local function read(k)
  local v = redis.call('GET', k)
  if v then slide(k, v) end
  return v
end
