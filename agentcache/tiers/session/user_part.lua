#!lua flags=allow-oom
-- user_part (after slide.lua): a thread's user parts, kept in step with the set of their keys.
-- Reads and removes only (allow-oom: it refreshes expiries and deletes, never adds), so it works
-- when the server is out of memory; user_part_set.lua adds a part.
-- KEYS[1]: the set of the thread's pending user-part keys (same slot as the thread's fields).
-- ARGV[1]: mode.
--   list                         -> key1, value1, ...  the parts (sorted by key), each refreshed by
--                                   its own TTL; keys of parts that expired leave the set
--   clear                        -> how many parts there were (all removed, the set too)
local mode, set = ARGV[1], KEYS[1]
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
