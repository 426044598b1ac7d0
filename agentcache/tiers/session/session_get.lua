#!lua flags=allow-oom
-- session_get: read a field and slide its expiry by the TTL in its header, in one call.
-- KEYS[1]: the field's key. ARGV[1] (optional): 'repair', sent right after a GETEX ... PX that
--   refreshed the field by a TTL its header does not hold (another writer changed it): the expiry
--   the header names is put back exactly (a version-1 header with no TTL: none, PERSIST through
--   GETEX; version 2: the fixed deadline, PEXPIREAT, which GT and LT make a no-op if it holds).
-- Returns the value, or nil.
local v = redis.call('GET', KEYS[1])
if v and #v >= 7 then
  local kind = string.byte(v, 1)
  if kind == 1 or kind == 2 then
    local a, b, c, d, e, f = string.byte(v, 2, 7)
    local ms = ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
    if kind == 1 and ms > 0 then
      redis.call('PEXPIRE', KEYS[1], ms)
    elseif ARGV[1] == 'repair' then
      if kind == 1 then
        redis.call('GETEX', KEYS[1], 'PERSIST')
      else
        redis.call('PEXPIREAT', KEYS[1], ms, 'GT')
        redis.call('PEXPIREAT', KEYS[1], ms, 'LT')
      end
    end
  end
end
return v
