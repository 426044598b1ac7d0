-- user_part (after slide.lua): a thread's user parts, kept in step with the set of their keys.
-- KEYS[1]: the set of the thread's pending user-part keys (same slot as the thread's fields).
-- ARGV[1]: mode.
--   set   key value expiry ms|at|''  -> 1   SET the part (PX ms, PXAT at, or no expiry), add its key
--         to the set, and keep the set alive at least as long as the part
--   list                         -> key1, value1, ...  the parts (sorted by key), each refreshed by
--                                   its own TTL; keys of parts that expired leave the set
--   clear                        -> how many parts there were (all removed, the set too)
local mode, set = ARGV[1], KEYS[1]
if mode == 'set' then
  local key, value, expiry = ARGV[2], ARGV[3], ARGV[4]
  local before = redis.call('PTTL', set)
  if expiry == 'px' then redis.call('SET', key, value, 'PX', ARGV[5])
  elseif expiry == 'pxat' then redis.call('SET', key, value, 'PXAT', ARGV[5])
  else redis.call('SET', key, value) end
  redis.call('SADD', set, key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PERSIST', set)
  elseif before == -2 or (before >= 0 and before < left) then
    redis.call('PEXPIRE', set, left)
  end
  return 1
end
local keys = redis.call('SMEMBERS', set)
table.sort(keys)
if mode == 'clear' then
  local n = 0
  for _, k in ipairs(keys) do n = n + redis.call('UNLINK', k) end
  redis.call('UNLINK', set)
  return n
end
local out = {}
for _, k in ipairs(keys) do
  local v = read(k)
  if v then
    out[#out + 1] = k
    out[#out + 1] = v
  else
    redis.call('SREM', set, k)
  end
end
return out
