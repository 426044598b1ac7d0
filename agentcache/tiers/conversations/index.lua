#!lua
-- conv_index
-- The indexes of live conversations: sorted sets scored by each conversation's deadline, in one slot
-- of their own (so one call updates the global, per-agent and per-user index together). This script
-- changes them (no flags: a server out of memory refuses it before it starts); index_read.lua
-- lists them.
-- KEYS: the index sorted sets. ARGV: mode, ...
--   add    id timeout cap how  -> score = min(now + timeout, cap); first drops entries whose deadline
--          passed, then ZADD to every key: how = gt (never lower a score), nx (only a new entry) or set
--          (absolute). Returns the score, then per key 1 if it added or changed the entry, else 0.
--   set    id score how n     -> the first n keys: ZADD score (how = gt or set); the others: ZREM
--   drop   id score           -> ZREM from every key whose entry still has that score
--   remove id                 -> ZREM from every key
-- Each key expires with its latest entry.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
local function put(key, how, score, id)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
  local n
  if how == 'gt' then n = redis.call('ZADD', key, 'GT', 'CH', score, id)
  elseif how == 'nx' then n = redis.call('ZADD', key, 'NX', score, id)
  else n = redis.call('ZADD', key, 'CH', score, id) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. now)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', key, string.format('%d', tonumber(top[2]) + 1000)) end
  return n
end
if mode == 'add' then
  local score = now + tonumber(ARGV[3])
  local cap = tonumber(ARGV[4])
  if cap > 0 and score > cap then score = cap end
  local out = {score}
  score = string.format('%d', score)
  for _, key in ipairs(KEYS) do out[#out + 1] = put(key, ARGV[5], score, ARGV[2]) end
  return out
end
if mode == 'set' then
  local n = tonumber(ARGV[5])
  for i, key in ipairs(KEYS) do
    if i <= n then put(key, ARGV[4], ARGV[3], ARGV[2]) else redis.call('ZREM', key, ARGV[2]) end
  end
  return 1
end
if mode == 'drop' then
  for _, key in ipairs(KEYS) do
    local score = redis.call('ZSCORE', key, ARGV[2])
    if score and tonumber(score) == tonumber(ARGV[3]) then redis.call('ZREM', key, ARGV[2]) end
  end
  return 1
end
if mode == 'remove' then
  for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[2]) end
  return 1
end
return redis.error_reply('conv_index: unknown mode ' .. tostring(mode))
