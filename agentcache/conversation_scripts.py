"""Server-side scripts of the conversation tier: each lifecycle transition is one atomic script call.

Every script takes the time from the server (``TIME``), so workers whose clocks disagree still agree
on when a conversation expires. A conversation's keys share one hash tag (see
``conversation_keys.py``): ``KEYS[1]`` is its meta hash, ``KEYS[2]`` its message list.

Meta hash fields: ``id agent user system meta created last deadline timeout maxdur warn auto renewals
status ended`` (times in Unix ms by the server's clock; ``maxdur`` 0 = no cap). Both keys expire at
``deadline + grace``, so an expired conversation still reads as expired during the grace period.

Replies start with a status: ``ok``, ``missing``, ``expired`` (+ deadline), ``ended`` (+ when),
``exists`` (create over an active conversation), ``refused`` (renewal past max_duration).
"""

from __future__ import annotations

from .commands import Script

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(x) return string.format('%d', x) end
local function push(key, first)
  for i = first, #ARGV, 1000 do
    redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
"""

# ARGV: grace, timeout, maxdur, warn, auto, agent, user, system, has_system, metadata, id, messages...
#   -> ok, now, deadline, length, replaced (1: an expired or ended conversation of that id was replaced)
#    | exists, its deadline, its agent, its user   (the id names an active conversation: nothing changed)
CONV_CREATE = Script(
    "conv_create",
    _PRELUDE
    + """
local old = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'agent', 'user')
if old[1] == 'active' and tonumber(old[2]) > now then return {'exists', tonumber(old[2]), old[3], old[4]} end
local replaced = 0
if old[1] then replaced = 1 end
redis.call('DEL', KEYS[1], KEYS[2])
local grace, timeout, maxdur = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local deadline = now + timeout
if maxdur > 0 and deadline > now + maxdur then deadline = now + maxdur end
redis.call('HSET', KEYS[1], 'id', ARGV[11], 'agent', ARGV[6], 'user', ARGV[7], 'meta', ARGV[10],
  'created', fmt(now), 'last', fmt(now), 'deadline', fmt(deadline), 'timeout', fmt(timeout),
  'maxdur', fmt(maxdur), 'warn', ARGV[4], 'auto', ARGV[5], 'renewals', '0', 'status', 'active')
if ARGV[9] == '1' then redis.call('HSET', KEYS[1], 'system', ARGV[8]) end
push(KEYS[2], 12)
redis.call('PEXPIREAT', KEYS[1], fmt(deadline + grace))
redis.call('PEXPIREAT', KEYS[2], fmt(deadline + grace))
return {'ok', now, deadline, redis.call('LLEN', KEYS[2]), replaced}
""",
)

# ARGV: mode, grace, mode arguments...
#   append   messages...           -> ok, now, deadline, new length, timeout, auto, cap
#   heartbeat                      -> ok, now, deadline, 0, timeout, auto, cap
#   renew                          -> ok, now, deadline, 0, timeout, auto, cap | refused, deadline, cap
#   timeout  timeout|'' auto|'' warn|''  -> ok, now, deadline, 0, timeout, auto, cap
#   pop                            -> ok, now, deadline, the last message or nil, timeout, auto, cap
#   clear                          -> ok, now, deadline, messages removed, timeout, auto, cap
#   end                            -> ok, now, now   (also on an expired or ended one: its status first)
# timeout, auto and cap are the settings the script used (cap: created + maxdur, 0 = none), so the
# caller can tell whether the index update it sent alongside matched what the script decided.
# Activity (append, heartbeat, renew) sets 'last'; with auto renew, append and heartbeat push the
# deadline to now + timeout. No deadline ever passes created + maxdur.
CONV_WRITE = Script(
    "conv_write",
    _PRELUDE
    + """
local mode, grace = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'ended', 'timeout', 'created', 'maxdur', 'auto')
if not f[1] then return {'missing'} end
local deadline = tonumber(f[2])
local gone = nil
if f[1] == 'ended' then gone = {'ended', tonumber(f[3])}
elseif now >= deadline then gone = {'expired', deadline} end
if mode == 'end' then
  if gone then redis.call('DEL', KEYS[2]); return gone end
  redis.call('HSET', KEYS[1], 'status', 'ended', 'ended', fmt(now))
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIREAT', KEYS[1], fmt(now + grace))
  return {'ok', now, now}
end
if gone then return gone end
local timeout, created, maxdur, auto = tonumber(f[4]), tonumber(f[5]), tonumber(f[6]), f[7]
local cap = nil
if maxdur > 0 then cap = created + maxdur end
local function extend()
  local target = now + timeout
  if cap and target > cap then target = cap end
  if target > deadline then
    deadline = target
    redis.call('HSET', KEYS[1], 'deadline', fmt(deadline))
    redis.call('HINCRBY', KEYS[1], 'renewals', 1)
  end
end
local out = 0
if mode == 'append' then
  push(KEYS[2], 3)
  out = redis.call('LLEN', KEYS[2])
  redis.call('HSET', KEYS[1], 'last', fmt(now))
  if auto == '1' then extend() end
elseif mode == 'heartbeat' then
  redis.call('HSET', KEYS[1], 'last', fmt(now))
  if auto == '1' then extend() end
elseif mode == 'renew' then
  if cap and deadline >= cap then return {'refused', deadline, cap} end
  redis.call('HSET', KEYS[1], 'last', fmt(now))
  extend()
elseif mode == 'timeout' then
  if ARGV[4] ~= '' then auto = ARGV[4]; redis.call('HSET', KEYS[1], 'auto', auto) end
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'warn', ARGV[5]) end
  if ARGV[3] ~= '' then
    timeout = tonumber(ARGV[3])
    deadline = now + timeout
    if cap and deadline > cap then deadline = cap end
    redis.call('HSET', KEYS[1], 'timeout', fmt(timeout), 'deadline', fmt(deadline))
  end
elseif mode == 'pop' then
  out = redis.call('RPOP', KEYS[2])
elseif mode == 'clear' then
  out = redis.call('LLEN', KEYS[2])
  redis.call('DEL', KEYS[2])
else
  return redis.error_reply('conv_write: unknown mode ' .. mode)
end
redis.call('PEXPIREAT', KEYS[1], fmt(deadline + grace))
redis.call('PEXPIREAT', KEYS[2], fmt(deadline + grace))
return {'ok', now, deadline, out, timeout, auto, cap or 0}
""",
)

# ARGV: mode, a, b
#   info            -> ok, now, HGETALL of meta, length     (also for expired or ended ones)
#   len             -> ok, now, length
#   range limit|'' before|''  -> ok, now, index of the first message returned, {messages}
#   dump            -> ok, now, HGETALL of meta, {every message}
CONV_READ = Script(
    "conv_read",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'ended')
if not f[1] then return {'missing'} end
if mode == 'info' then return {'ok', now, redis.call('HGETALL', KEYS[1]), redis.call('LLEN', KEYS[2])} end
if f[1] == 'ended' then return {'ended', tonumber(f[3])} end
if now >= tonumber(f[2]) then return {'expired', tonumber(f[2])} end
local n = redis.call('LLEN', KEYS[2])
if mode == 'len' then return {'ok', now, n} end
if mode == 'dump' then return {'ok', now, redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)} end
local stop = n
if ARGV[3] ~= '' then stop = math.min(tonumber(ARGV[3]), n) end
local start = 0
if ARGV[2] ~= '' then start = math.max(0, stop - tonumber(ARGV[2])) end
if stop <= start then return {'ok', now, start, {}} end
return {'ok', now, start, redis.call('LRANGE', KEYS[2], start, stop - 1)}
""",
)

# The indexes of live conversations: sorted sets scored by each conversation's deadline, in one slot
# of their own (so one call updates the global, per-agent and per-user index together).
# KEYS: the index sorted sets. ARGV: mode, ...
#   add    id timeout cap how  -> score = min(now + timeout, cap); first drops entries whose deadline
#          passed, then ZADD to every key: how = gt (never lower a score), nx (only a new entry) or set
#          (absolute). Returns the score, then per key 1 if it added or changed the entry, else 0.
#   set    id score how n     -> the first n keys: ZADD score (how = gt or set); the others: ZREM
#   drop   id score           -> ZREM from every key whose entry still has that score
#   remove id                 -> ZREM from every key
#   list   cursor_score|'' cursor_id limit  -> now, id, score, ... (deadline order, live only, after cursor)
#   expiring within limit      -> now, id, score, ...  (deadlines in (now, now + within])
# Each key expires with its latest entry.
CONV_INDEX = Script(
    "conv_index",
    """
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
local out = {now}
if mode == 'expiring' then
  local high = string.format('%d', now + tonumber(ARGV[2]))
  local found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, high, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
  for _, v in ipairs(found) do out[#out + 1] = v end
  return out
end
local limit = tonumber(ARGV[4])
local low = '(' .. now
local cscore = nil
if ARGV[2] ~= '' then
  cscore = tonumber(ARGV[2])
  if cscore > now then low = ARGV[2] end
end
local offset = 0
while (#out - 1) / 2 < limit do
  local got = redis.call('ZRANGEBYSCORE', KEYS[1], low, '+inf', 'WITHSCORES', 'LIMIT', offset, limit)
  if #got == 0 then break end
  for i = 1, #got, 2 do
    local id, score = got[i], tonumber(got[i + 1])
    if not (cscore and (score < cscore or (score == cscore and id <= ARGV[3]))) and (#out - 1) / 2 < limit then
      out[#out + 1] = id
      out[#out + 1] = got[i + 1]
    end
  end
  offset = offset + limit
end
return out
""",
)
