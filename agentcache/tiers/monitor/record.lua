#!lua
-- monitor_record: ship this process's timings, then, once per interval across every process, add one
-- entry to the history: what the shared counts did since the previous entry.
-- KEYS[1]: the stats hash (hit/miss/write counts and cost saved, shipped by every process)
-- KEYS[2]: the timings hash (per operation: 'op/<name>/n' calls, '/err' errors, '/near' near-cache
--          hits, '/l<b>' calls that took at most 2^(b/4) microseconds)
-- KEYS[3]: the history (sorted set: entry JSON scored by its time, Unix ms)
-- KEYS[4]: the counts when the newest entry was taken (hash; '~t': when)
-- ARGV: interval ms, kept ms, then field, amount pairs: this process's timings since it last shipped.
-- An entry: {"t": now, "s": when the previous one was taken, "d": {stats field: change},
--            "o": {operation: [calls, errors, near hits, p50 bucket, p99 bucket]}} (bucket -1: none).
-- -> 0: this interval already has its entry (only the timings were added) | 1: the first counts
--    were kept (no entry yet) | 2: an entry was added
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, kept = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[2], kept * 2) end
local since = tonumber(redis.call('HGET', KEYS[4], '~t') or '0')
if since >= now - now % interval then return 0 end

local last = {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do last[flat[i]] = tonumber(flat[i + 1]) end
local current, order = {}, {}
for k = 1, 2 do
  flat = redis.call('HGETALL', KEYS[k])
  for i = 1, #flat, 2 do
    local v = tonumber(flat[i + 1])
    if v then
      current[flat[i]] = v
      order[#order + 1] = flat[i]
    end
  end
end

redis.call('DEL', KEYS[4])
local args = {'~t', now}
for _, f in ipairs(order) do
  args[#args + 1] = f
  args[#args + 1] = string.format('%.17g', current[f])
  if #args >= 1000 then
    redis.call('HSET', KEYS[4], unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('HSET', KEYS[4], unpack(args)) end
redis.call('PEXPIRE', KEYS[4], kept)
if since == 0 then return 1 end

local d, ops, buckets = {}, {}, {}
for _, f in ipairs(order) do
  local change = current[f] - (last[f] or 0)
  if change < 0 then change = current[f] end -- the counts were reset in between
  if change ~= 0 then
    local name, what = string.match(f, '^op/(.+)/([^/]+)$')
    if name then
      local op = ops[name]
      if not op then
        op = {0, 0, 0, -1, -1}
        ops[name] = op
        buckets[name] = {}
      end
      if what == 'n' then op[1] = change
      elseif what == 'err' then op[2] = change
      elseif what == 'near' then op[3] = change
      elseif string.sub(what, 1, 1) == 'l' then
        local b = tonumber(string.sub(what, 2))
        if b then table.insert(buckets[name], {b, change}) end
      end
    else
      d[f] = change
    end
  end
end
for name, list in pairs(buckets) do
  table.sort(list, function(x, y) return x[1] < y[1] end)
  local total = 0
  for _, pair in ipairs(list) do total = total + pair[2] end
  local seen, op = 0, ops[name]
  for _, pair in ipairs(list) do
    seen = seen + pair[2]
    if op[4] < 0 and seen >= 0.5 * total then op[4] = pair[1] end
    if op[5] < 0 and seen >= 0.99 * total then op[5] = pair[1] end
  end
end
local entry = cjson.encode({t = now, s = since, d = d, o = ops})
redis.call('ZADD', KEYS[3], now, entry)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', now - kept))
redis.call('PEXPIRE', KEYS[3], kept)
return 2
