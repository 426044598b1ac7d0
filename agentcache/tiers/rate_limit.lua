#!lua
-- rate_limit: one request against a rate limit, by the generic cell rate algorithm (GCRA), on the
-- server's clock, so every process that shares the key shares the limit.
-- KEYS[1]: the limit's key (a string: the theoretical arrival time, in microseconds).
-- ARGV: interval (microseconds between requests at the steady rate), burst (requests allowed at once).
-- -> {1, remaining} allowed | {0, microseconds until the next request is allowed} refused
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local window = interval * burst
local next_tat = tat + interval
if next_tat - window > now then return {0, next_tat - window - now} end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((now + window - next_tat) / interval)}
