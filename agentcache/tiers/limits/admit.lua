#!lua
-- admit: one request of a caller against its rate limit and, for a write to a thread, its quotas,
-- on the server's clock, so every process that shares the keys shares the limits. All or nothing:
-- a refused request counts against no limit.
-- KEYS[1]: the rate limit (a string: the theoretical arrival time, in microseconds; GCRA)
-- KEYS[2]: the quota window (a hash: until = its end in Unix ms, bytes = bytes written in it)
-- KEYS[3]: the threads written in the window (a set of thread digests)
-- KEYS[4]: the keys written to this thread in the window (a set of key digests)
-- ARGV[1], ARGV[2]: interval (microseconds between requests at the steady rate), burst (0: no rate limit)
-- ARGV[3]: the quota window in ms (0: no quota); ARGV[4..6]: at most threads, keys per thread, bytes
--          in a window (0: no limit of that kind)
-- ARGV[7], ARGV[8], ARGV[9]: the thread's digest ('': the request writes no thread), the key's digest
--          ('': none), bytes the request writes
-- -> {'', 0, remaining (-1: no rate limit)} allowed
--  | {'rate', microseconds until a request is allowed, 0}
--  | {'threads' | 'keys' | 'bytes', microseconds until the window ends, used in the window}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local max_threads, max_keys, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local thread, key, size = ARGV[7], ARGV[8], tonumber(ARGV[9])

local counted = window > 0 and thread ~= ''
local now_ms = math.floor(now / 1000)
local until_ms, fresh, new_thread, new_key = 0, false, false, false
if counted then
  until_ms = tonumber(redis.call('HGET', KEYS[2], 'until') or 0)
  fresh = until_ms <= now_ms
  if fresh then until_ms = now_ms + window end
  local wait = (until_ms - now_ms) * 1000
  if max_threads > 0 then
    new_thread = fresh or redis.call('SISMEMBER', KEYS[3], thread) == 0
    local threads = fresh and 0 or redis.call('SCARD', KEYS[3])
    if new_thread and threads >= max_threads then return {'threads', wait, threads} end
  end
  if max_keys > 0 and key ~= '' then
    new_key = fresh or redis.call('SISMEMBER', KEYS[4], key) == 0
    local keys = fresh and 0 or redis.call('SCARD', KEYS[4])
    if new_key and keys >= max_keys then return {'keys', wait, keys} end
  end
  if max_bytes > 0 then
    local bytes = fresh and 0 or tonumber(redis.call('HGET', KEYS[2], 'bytes') or 0)
    if bytes + size > max_bytes then return {'bytes', wait, bytes} end
  end
end

local remaining = -1
if burst > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
  if tat < now then tat = now end
  local span = interval * burst
  local next_tat = tat + interval
  if next_tat - span > now then return {'rate', next_tat - span - now, 0} end
  redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  remaining = math.floor((now + span - next_tat) / interval)
end

if counted then
  if fresh then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4]) end  -- what is left of an earlier window
  redis.call('HSET', KEYS[2], 'until', string.format('%d', until_ms))
  if max_bytes > 0 then redis.call('HINCRBY', KEYS[2], 'bytes', size) end
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', until_ms))
  if new_thread then
    redis.call('SADD', KEYS[3], thread)
    redis.call('PEXPIREAT', KEYS[3], string.format('%d', until_ms))
  end
  if new_key then
    redis.call('SADD', KEYS[4], key)
    redis.call('PEXPIREAT', KEYS[4], string.format('%d', until_ms))
  end
end
return {'', 0, remaining}
