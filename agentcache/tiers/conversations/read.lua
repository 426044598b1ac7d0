#!lua flags=no-writes
-- conv_read: KEYS[1]: the conversation's meta hash, KEYS[2]: its message list. Reads only
-- (no-writes), so it runs even when the server is out of memory.
-- ARGV: mode, a, b
--   info            -> ok, now, HGETALL of meta, length     (also for expired or ended ones)
--   len             -> ok, now, length
--   range limit|'' before|''  -> ok, now, index of the first message returned, {messages}
--   dump            -> ok, now, HGETALL of meta, {every message}
--   tail limit      -> ok, now, index of the first message returned, {the newest `limit`
--                      messages}, epoch, created   (what a `replace` in conv_write checks)
--   context limit|''  -> ok, now, index of the first message returned, {the newest `limit` messages
--                      (all if ''), none before the summary's end}, system, summary, sumto, epoch,
--                      created   (a turn's context and a compaction's read, from one copy)
-- len, range, tail and dump of a live conversation whose list holds fewer messages than its meta counts
-- (the list was evicted, or deleted by hand) -> lost, count, length: never a shorter history.
-- info reports as it finds (its HGETALL carries the count).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'ended', 'count')
if not f[1] then return {'missing'} end
if mode == 'info' then return {'ok', now, redis.call('HGETALL', KEYS[1]), redis.call('LLEN', KEYS[2])} end
if f[1] == 'ended' then return {'ended', tonumber(f[3])} end
if now >= tonumber(f[2]) then return {'expired', tonumber(f[2])} end
local n = redis.call('LLEN', KEYS[2])
if f[4] and n < tonumber(f[4]) then return {'lost', tonumber(f[4]), n} end
if mode == 'len' then return {'ok', now, n} end
if mode == 'dump' then return {'ok', now, redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)} end
if mode == 'tail' then
  local m = redis.call('HMGET', KEYS[1], 'epoch', 'created')
  local first = math.max(0, n - tonumber(ARGV[2]))
  local messages = {}
  if first < n then messages = redis.call('LRANGE', KEYS[2], first, n - 1) end
  return {'ok', now, first, messages, tonumber(m[1] or '0'), m[2] or false}
end
if mode == 'context' then
  local m = redis.call('HMGET', KEYS[1], 'system', 'summary', 'sumto', 'epoch', 'created')
  local from = math.min(tonumber(m[3] or '0'), n)
  local first = from
  if ARGV[2] ~= '' then first = math.max(from, n - tonumber(ARGV[2])) end
  local messages = {}
  if first < n then messages = redis.call('LRANGE', KEYS[2], first, n - 1) end
  return {'ok', now, first, messages, m[1] or false, m[2] or false, from, tonumber(m[4] or '0'), m[5] or false}
end
local stop = n
if ARGV[3] ~= '' then stop = math.min(tonumber(ARGV[3]), n) end
local start = 0
if ARGV[2] ~= '' then start = math.max(0, stop - tonumber(ARGV[2])) end
if stop <= start then return {'ok', now, start, {}} end
return {'ok', now, start, redis.call('LRANGE', KEYS[2], start, stop - 1)}
