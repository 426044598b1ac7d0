-- put (the start of user_part_set and session_put): put(key, value, expiry, amount) SETs one field
-- (expiry 'px': a TTL of amount ms, 'pxat': a deadline of amount Unix ms, '': none);
-- add_part(set, key) adds a user part's key to the set of the thread's pending parts and keeps the
-- set alive at least as long as the part (for ever if the part never expires).
local function put(key, value, expiry, amount)
  if expiry == 'px' then redis.call('SET', key, value, 'PX', amount)
  elseif expiry == 'pxat' then redis.call('SET', key, value, 'PXAT', amount)
  else redis.call('SET', key, value) end
end
local function add_part(set, key)
  local before = redis.call('PTTL', set)
  redis.call('SADD', set, key)
  local left = redis.call('PTTL', key)
  if left < 0 then
    redis.call('PERSIST', set)
  elseif before == -2 or (before >= 0 and before < left) then
    redis.call('PEXPIRE', set, left)
  end
end
