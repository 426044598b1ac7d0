#!lua
-- conv_create: KEYS[1]: the conversation's meta hash, KEYS[2]: its message list. No flags: a server
-- out of memory refuses it before it starts (it would otherwise delete before it adds).
-- ARGV: grace, timeout, maxdur, warn, auto, agent, user, system, has_system, metadata, id, summary,
--   sumto ('': no summary; else how many of the messages at the head the summary covers: a fork or
--   a restored snapshot of a compacted conversation, see compact.lua), messages...
--   -> ok, now, deadline, length, replaced (1: an expired or ended conversation of that id was replaced)
--    | exists, its deadline, its agent, its user   (the id names an active conversation: nothing changed)
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
  'maxdur', fmt(maxdur), 'warn', ARGV[4], 'auto', ARGV[5], 'renewals', '0', 'status', 'active',
  'count', fmt(#ARGV - 13))
if ARGV[9] == '1' then redis.call('HSET', KEYS[1], 'system', ARGV[8]) end
if ARGV[13] ~= '' then redis.call('HSET', KEYS[1], 'summary', ARGV[12], 'sumto', ARGV[13]) end
push(KEYS[2], 14)
redis.call('PEXPIREAT', KEYS[1], fmt(deadline + grace))
redis.call('PEXPIREAT', KEYS[2], fmt(deadline + grace))
return {'ok', now, deadline, redis.call('LLEN', KEYS[2]), replaced}
