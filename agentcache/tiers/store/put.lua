#!lua
-- store_put (after prelude.lua): store one item (KEYS[4]), keeping its creation time and its place
-- in the namespace's order when it replaces one. No flags: a server out of memory refuses it before
-- it starts.
-- ARGV: member (the escaped key), value envelope, ttl ms (0: none).
-- -> 1 when the namespace is in the registry, 0 when the caller must register it (then mark it).
local member, ttl = ARGV[1], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', tonumber(t[2]))
redis.call('HSETNX', KEYS[4], 'c', now)
redis.call('HSET', KEYS[4], 'v', ARGV[2], 'u', now)
local fresh = false  -- the namespace starts with this item
if not redis.call('ZSCORE', KEYS[1], member) then
  fresh = not exists(1)
  redis.call('ZADD', KEYS[1], redis.call('HINCRBY', KEYS[2], 'seq', 1), member)
end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[4], ttl)
  if redis.call('SREM', KEYS[3], member) == 1 and not exists(3) then
    recover()
  elseif fresh then
    cover(ttl)
  else
    extend(ttl)
  end
else
  redis.call('PERSIST', KEYS[4])
  redis.call('SADD', KEYS[3], member)
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
if redis.call('HGET', KEYS[2], 'reg') == '1' then return 1 end
return 0
