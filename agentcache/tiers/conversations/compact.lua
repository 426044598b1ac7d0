#!lua
-- conv_compact: KEYS[1]: the conversation's meta hash, KEYS[2]: its message list. No flags: a server
-- out of memory refuses it before it starts.
-- Stores a summary of the history's messages [from, cut) (and of the summary before them), written
-- while the model made it, only if the history is still the one the summary was made from:
-- 'created' (the same conversation, not one created again under its id), 'epoch' (bumped by every
-- write that moves or removes stored messages: pop, clear, compaction) and 'sumto' (where the
-- summary it extends ends) as read, and at least `cut` messages stored. Appends do not bump the
-- epoch: a message appended meanwhile lands after `cut`, so it is neither lost nor summarised.
-- ARGV: grace, created, epoch, from, cut, summary, drop ('1': remove the messages before cut)
--   -> ok, now, epoch, sumto, dropped, length
--    | conflict, epoch, sumto, length   (the history changed under it: nothing written)
--    | missing | expired, deadline | ended, when | lost, count, length
-- Meta fields it writes: summary, sumto (messages at the list's head the summary covers),
-- epoch, compactions (how many), summarized (messages folded into summaries in all, dropped or
-- not), and count (in step with the list) when it drops.
local f = redis.call('HMGET', KEYS[1], 'status', 'deadline', 'ended', 'created', 'epoch', 'sumto', 'count')
if not f[1] then return {'missing'} end
if f[1] == 'ended' then return {'ended', tonumber(f[3])} end
if now >= tonumber(f[2]) then return {'expired', tonumber(f[2])} end
local n = redis.call('LLEN', KEYS[2])
if f[7] and n < tonumber(f[7]) then return {'lost', tonumber(f[7]), n} end
local epoch, sumto = tonumber(f[5] or '0'), tonumber(f[6] or '0')
local from, cut = tonumber(ARGV[4]), tonumber(ARGV[5])
if f[4] ~= ARGV[2] or epoch ~= tonumber(ARGV[3]) or sumto ~= from or n < cut or cut <= from then
  return {'conflict', epoch, sumto, n}
end
epoch = epoch + 1
local dropped = 0
if ARGV[7] == '1' then
  redis.call('LTRIM', KEYS[2], cut, -1)
  dropped = cut
  sumto = 0
  if f[7] then redis.call('HINCRBY', KEYS[1], 'count', -cut) end
else
  sumto = cut
end
redis.call('HSET', KEYS[1], 'summary', ARGV[6], 'sumto', fmt(sumto), 'epoch', fmt(epoch))
redis.call('HINCRBY', KEYS[1], 'compactions', 1)
redis.call('HINCRBY', KEYS[1], 'summarized', cut - from)
return {'ok', now, epoch, sumto, dropped, n - dropped}
