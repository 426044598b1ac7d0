#!lua
-- monitor_primaries: count the changes of primaries the monitor has seen (a failover puts a replica,
-- with its own run id, in a primary's place; a restart gives a primary a new run id).
-- KEYS[1]: hash of the primaries' run ids seen (run id -> first seen, Unix ms) and '~changes'.
-- ARGV: the run ids of the primaries now. The first call only remembers them. At most 64 are kept.
-- -> the changes seen so far
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('EXISTS', KEYS[1]) == 1
local added = 0
for i = 1, #ARGV do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], now)
end
if known and added > 0 then redis.call('HINCRBY', KEYS[1], '~changes', added) end
if redis.call('HLEN', KEYS[1]) > 65 then
  local flat, seen = redis.call('HGETALL', KEYS[1]), {}
  for i = 1, #flat, 2 do
    if flat[i] ~= '~changes' then seen[#seen + 1] = {flat[i], tonumber(flat[i + 1])} end
  end
  table.sort(seen, function(a, b) return a[2] < b[2] end)
  for i = 1, #seen - 64 do redis.call('HDEL', KEYS[1], seen[i][1]) end
end
return tonumber(redis.call('HGET', KEYS[1], '~changes') or '0')
