#!lua flags=no-writes
-- monitor_sessions: what one index of live conversations holds, by the server's clock: how many are
-- live, and how many expire in each of the next bins (the dashboard's expiry timeline).
-- KEYS[1]: an index (sorted set: session id -> deadline, Unix ms). ARGV: bin ms, bins.
-- -> {now, live, count in bin 1, ..., count in bin n}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bin, bins = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {now, redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%d', now), '+inf')}
for i = 1, bins do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%d', now + (i - 1) * bin),
    string.format('%d', now + i * bin))
end
return out
