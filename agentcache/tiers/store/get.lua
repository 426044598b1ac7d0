#!lua flags=allow-oom
-- store_get (after prelude.lua): one item (KEYS[4]), refreshed by its own TTL, and the namespace's
-- keys with it. allow-oom: its only writes refresh TTLs.
-- -> {v, c, u}, or nil when there is no such item.
local item = redis.call('HMGET', KEYS[4], 'v', 'c', 'u')
if not item[1] then return nil end
local ms = slide_of(item[1])
if ms > 0 then
  redis.call('PEXPIRE', KEYS[4], ms)
  extend(ms)
end
return item
