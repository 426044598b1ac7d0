#!lua
-- checkpoint_put (after prelude.lua): store one checkpoint. No flags: a server out of memory refuses it
-- before it starts.
-- ARGV: member, entry, run id ('' for none), ttl ms (0: none). -> 1
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if exists(5) then redis.call('HSET', KEYS[2], '#writes', '1') end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
expire_all(ARGV[4])
return 1
