#!lua flags=no-writes
-- conv_index_read: read an index of live conversations (see index.lua); no writes, so it runs even
-- when the server is out of memory.
-- KEYS[1]: the index sorted set. ARGV: mode, ...
--   list   cursor_score|'' cursor_id limit  -> now, id, score, ... (deadline order, live only, after cursor)
--   expiring within limit      -> now, id, score, ...  (deadlines in (now, now + within])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
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
