#!lua
-- tool_claim: KEYS[1]: the result's key.
-- ARGV: lock (0 byte + token), lock timeout ms.
-- -> nil: claimed, the caller computes | integer: ms until someone else's claim lapses | string: the result
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
if string.byte(v, 1) == 0 then return redis.call('PTTL', KEYS[1]) end
return v
