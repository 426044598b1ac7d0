#!lua
-- tool_restore: KEYS[1]: the result's key.
-- Store again with the TTL of a policy learnt in the same round trip as the first store, but only if
-- that first write is still there (not invalidated or overwritten meanwhile).
-- ARGV: first write, the entry to write instead, its TTL in ms (0: none). -> 1 written | 0 left alone
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
