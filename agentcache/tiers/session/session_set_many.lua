#!lua
-- session_set_many: store several fields of one thread in one atomic call. No flags: a server out
-- of memory refuses the whole call before it starts, never some of the fields.
-- KEYS: the fields' keys (one thread: one slot). ARGV: per key, in order: value, expiry, amount
--   (expiry 'px': TTL amount ms, 'pxat': deadline amount in Unix ms, '': none). -> how many set
for i, key in ipairs(KEYS) do
  local value, expiry, amount = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if expiry == 'px' then redis.call('SET', key, value, 'PX', amount)
  elseif expiry == 'pxat' then redis.call('SET', key, value, 'PXAT', amount)
  else redis.call('SET', key, value) end
end
return #KEYS
