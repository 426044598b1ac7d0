#!lua
-- rekey: KEYS[1]: one key holding agent data. Writes a value sealed again only if what was read is
-- still there (compare and set), keeping the key's TTL; a value changed meanwhile was written by a
-- worker (sealed under its own current key) and is left alone.
-- ARGV: kind ('value' | 'messages' | 'hash'), then triples of (where, what was read, what to write):
--   value     where '' (the string itself)     SET ... KEEPTTL
--   messages  where = the list index           LSET
--   hash      where = the hash field           HSET (a conversation's meta, checkpoints, a store item)
-- -> how many were written.
local kind, n = ARGV[1], 0
for i = 2, #ARGV, 3 do
  local where, old, new = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if kind == 'messages' then
    if redis.call('LINDEX', KEYS[1], where) == old then redis.call('LSET', KEYS[1], where, new); n = n + 1 end
  elseif kind == 'hash' then
    if redis.call('HGET', KEYS[1], where) == old then redis.call('HSET', KEYS[1], where, new); n = n + 1 end
  elseif redis.call('GET', KEYS[1]) == old then
    redis.call('SET', KEYS[1], new, 'KEEPTTL'); n = n + 1
  end
end
return n
