#!lua
-- user_part_set: store one user part of a thread and add its key to the set of the thread's parts.
-- No flags: a server out of memory refuses it before it starts (never the part without its key).
-- KEYS[1]: the set of the thread's pending user-part keys (same slot as the thread's fields).
-- ARGV: key value expiry ms|at|''  -> 1   SET the part (PX ms, PXAT at, or no expiry), add its key
--       to the set, and keep the set alive at least as long as the part.
local set, key, value, expiry = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local before = redis.call('PTTL', set)
if expiry == 'px' then redis.call('SET', key, value, 'PX', ARGV[4])
elseif expiry == 'pxat' then redis.call('SET', key, value, 'PXAT', ARGV[4])
else redis.call('SET', key, value) end
redis.call('SADD', set, key)
local left = redis.call('PTTL', key)
if left < 0 then
  redis.call('PERSIST', set)
elseif before == -2 or (before >= 0 and before < left) then
  redis.call('PEXPIRE', set, left)
end
return 1
