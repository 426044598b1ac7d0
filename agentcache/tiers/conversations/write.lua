#!lua
-- conv_write: KEYS[1]: the conversation's meta hash, KEYS[2]: its message list (KEYS[3]: see attach).
-- No flags: a server out of memory refuses it before it starts. Every mode that changes the history
-- keeps the meta's message count ('count') in step; a conversation without one (stored before the
-- count existed) starts one at its next append.
-- ARGV: mode, grace, mode arguments...
--   append   messages...           -> ok, now, deadline, new length, timeout, auto, cap
--   attach   at messages...        -> as append, and message number `at` takes the thread's pending
--            persistent user parts, which are removed. KEYS[3]: the set of the thread's user-part
--            keys (same slot). A user part is a session value (version byte 1, 6 TTL bytes) holding
--            msgpack [save, part]: fixarray 2 (0x92), then true (0xc3) for a persistent part. The
--            message becomes msgpack [message, part...]: an array16 header, then the stored bytes
--            unchanged. Parts go in key order; keys of expired parts leave the set.
--   heartbeat                      -> ok, now, deadline, 0, timeout, auto, cap
--   renew                          -> ok, now, deadline, 0, timeout, auto, cap | refused, deadline, cap
--   timeout  timeout|'' auto|'' warn|''  -> ok, now, deadline, 0, timeout, auto, cap
--   pop                            -> ok, now, deadline, the last message or nil, timeout, auto, cap
--   clear                          -> ok, now, deadline, messages removed, timeout, auto, cap
--   end                            -> ok, now, now   (also on an expired or ended one: its status first)
--   replace  check created epoch length drop keep messages...  -> ok, now, deadline, new length,
--            timeout, auto, cap | conflict | lost, count, length: the messages after the first `keep`
--            are replaced by `messages`, and the first `drop` of those kept are removed; with check
--            '1' only if the history is still the one read (conv_read tail) and none of it was lost:
--            the same `created`, `epoch` and `length` (an append since changes the length). Bumps the
--            epoch; drops the summary (as clear does) when it covered a replaced message or
--            everything is replaced, else moves its end back by `drop` (as conv_compact's drop
--            does). Not activity (the deadline stays).
-- pop, clear and replace bump the meta's 'epoch' (and clear drops the summary, see compact.lua), so a
-- compaction made from the history before them is refused instead of written.
-- timeout, auto and cap are the settings the script used (cap: created + maxdur, 0 = none), so the
-- caller can tell whether the index update it sent alongside matched what the script decided.
-- Activity (append, heartbeat, renew) sets 'last'; with auto renew, append and heartbeat push the
-- deadline to now + timeout. No deadline ever passes created + maxdur.
local mode, grace = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'ended', 'timeout', 'created', 'maxdur', 'auto', 'count')
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
local function counted(added, length)
  if f[8] then redis.call('HINCRBY', KEYS[1], 'count', added)
  else redis.call('HSET', KEYS[1], 'count', fmt(length)) end
end
local out = 0
if mode == 'append' then
  push(KEYS[2], 3)
  out = redis.call('LLEN', KEYS[2])
  counted(#ARGV - 2, out)
  redis.call('HSET', KEYS[1], 'last', fmt(now))
  if auto == '1' then extend() end
elseif mode == 'attach' then
  local at = tonumber(ARGV[3])
  local keys = redis.call('SMEMBERS', KEYS[3])
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = redis.call('GET', k)
    if not v then
      redis.call('SREM', KEYS[3], k)
    elseif #v > 9 and string.byte(v, 1) == 1 and string.byte(v, 8) == 0x92 and string.byte(v, 9) == 0xc3 then
      parts[#parts + 1] = string.sub(v, 10)
      redis.call('UNLINK', k)
      redis.call('SREM', KEYS[3], k)
    end
  end
  for i = 4, #ARGV do
    local m = ARGV[i]
    if i - 3 == at and #parts > 0 then
      local size = #parts + 1
      m = string.sub(m, 1, 7) .. string.char(0xdc, math.floor(size / 256), size % 256) .. string.sub(m, 8)
        .. table.concat(parts)
    end
    redis.call('RPUSH', KEYS[2], m)
  end
  out = redis.call('LLEN', KEYS[2])
  counted(#ARGV - 3, out)
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
  if out and f[8] then redis.call('HINCRBY', KEYS[1], 'count', -1) end
  if out then
    redis.call('HINCRBY', KEYS[1], 'epoch', 1)  -- a compaction under way reads again
    local sumto = redis.call('HGET', KEYS[1], 'sumto')  -- popped into the summarised part
    if sumto and tonumber(sumto) > redis.call('LLEN', KEYS[2]) then
      redis.call('HSET', KEYS[1], 'sumto', fmt(redis.call('LLEN', KEYS[2])))
    end
  end
elseif mode == 'clear' then
  out = redis.call('LLEN', KEYS[2])
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'count', '0')
  redis.call('HDEL', KEYS[1], 'summary', 'sumto')  -- the history starts over, its summary with it
  redis.call('HINCRBY', KEYS[1], 'epoch', 1)
elseif mode == 'replace' then
  local n = redis.call('LLEN', KEYS[2])
  if ARGV[3] == '1' and f[8] and n < tonumber(f[8]) then return {'lost', tonumber(f[8]), n} end
  local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
  if ARGV[3] == '1' and (ARGV[4] ~= f[5] or tonumber(ARGV[5]) ~= epoch or tonumber(ARGV[6]) ~= n) then
    return {'conflict'}
  end
  local keep = math.min(tonumber(ARGV[8]), n)
  local drop = math.min(tonumber(ARGV[7]), keep)
  if keep > drop then redis.call('LTRIM', KEYS[2], drop, keep - 1) else redis.call('DEL', KEYS[2]) end
  if #ARGV > 8 then push(KEYS[2], 9) end
  out = keep - drop + #ARGV - 8
  redis.call('HSET', KEYS[1], 'count', fmt(out), 'epoch', fmt(epoch + 1))
  local sumto = tonumber(redis.call('HGET', KEYS[1], 'sumto') or '0')
  if keep == 0 or sumto > keep then  -- its summary covered replaced messages: as after clear
    redis.call('HDEL', KEYS[1], 'summary', 'sumto')
  elseif drop > 0 and sumto > 0 then  -- the summary stays, over what is left of the messages it covered
    redis.call('HSET', KEYS[1], 'sumto', fmt(math.max(sumto - drop, 0)))
  end
else
  return redis.error_reply('conv_write: unknown mode ' .. mode)
end
redis.call('PEXPIREAT', KEYS[1], fmt(deadline + grace))
redis.call('PEXPIREAT', KEYS[2], fmt(deadline + grace))
return {'ok', now, deadline, out, timeout, auto, cap or 0}
