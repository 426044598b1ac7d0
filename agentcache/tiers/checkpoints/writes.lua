#!lua
-- checkpoint_writes (after prelude.lua): store a task's pending writes on one checkpoint. No flags: a
-- server out of memory refuses it before it starts, never some of the writes.
-- ARGV: ttl ms, then per write: field, value, replace ('1': overwrite, '0': keep a write already there).
-- -> how many writes were stored
local n = 0
for i = 2, #ARGV, 3 do
  local stored
  if ARGV[i + 2] == '1' then
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
    stored = 1
  else
    stored = redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  if stored == 1 then
    redis.call('ZADD', KEYS[5], 0, ARGV[i])
    n = n + 1
  end
end
if n > 0 and exists(2) then redis.call('HSET', KEYS[2], '#writes', '1') end
expire_all(ARGV[1])
return n
