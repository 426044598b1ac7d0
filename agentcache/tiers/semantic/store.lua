#!lua
-- semantic_store: KEYS[1]: the scope's meta key.
-- ARGV: vector (float32 LE), band codes (BANDS uint16 LE), text digest, entry, TTL ms (0: none),
-- max entries, bands.
-- Store (or, for a text already stored, replace) one entry: expired entries go first (up to 64),
-- then the least recently used past the bound. Every key of the scope expires with its latest
-- entry (never, while an entry has no TTL). -> {id, entries removed}
local vector, codes, text, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, bound, bands = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()
local removed = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now, 'LIMIT', 0, 64)) do
  removed = removed + remove_entry(id, bands)
end
local expires = '+inf'
if ttl > 0 then expires = now + ttl end
local id = redis.call('HGET', TEXTS, text)
if not id then
  local seq = redis.call('HINCRBY', META, 'seq', 1)
  id = id_bytes(seq % 4294967296)
  if redis.call('HGET', CODES, id) then removed = removed + remove_entry(id, bands) end  -- ids wrapped round
  redis.call('HSET', VEC, id, vector)
  redis.call('HSET', CODES, id, codes .. text)
  redis.call('HSET', TEXTS, text, id)
  for j = 1, bands do
    local code = string.sub(codes, 2 * j - 1, 2 * j)
    local bucket = redis.call('HGET', band_key(j), code) or ''
    redis.call('HSET', band_key(j), code, bucket .. id)
  end
  redis.call('HINCRBY', META, 'n', 1)
end
redis.call('HSET', ENTRY, id, entry)
redis.call('ZADD', EXPIRY, expires, id)
redis.call('ZADD', USED, now, id)
local n = tonumber(redis.call('HGET', META, 'n'))
if n > bound then
  for _, old in ipairs(redis.call('ZRANGE', USED, 0, n - bound - 1)) do
    if old ~= id then removed = removed + remove_entry(old, bands) end
  end
end
local was = redis.call('HGET', META, 'exp')
local exp = was
if ttl == 0 or was == '0' then
  exp = '0'
elseif not was or tonumber(was) < now + ttl then
  exp = tostring(now + ttl)
end
if exp ~= was then redis.call('HSET', META, 'exp', exp) end
if exp ~= '0' or was ~= '0' then  -- keys without a TTL that stay so (the common case) need nothing
  for _, key in ipairs(scope_keys(bands)) do
    if exp == '0' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, exp) end
  end
end
return {id, removed}
