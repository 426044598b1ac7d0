#!lua flags=no-writes
-- session_peek: one SCAN step over a thread's keys, each with its remaining TTL and its value (or,
-- above a size, only the size); nothing is refreshed: looking at a thread is not using it.
-- KEYS[1]: a key in the thread's slot (routing only).
-- ARGV: cursor, pattern (the thread's keys), count, the largest value returned (bytes).
-- -> cursor, then per key: key, milliseconds left (-1: never expires), value (string) or size
--    (integer; -1: not a string)
local found = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {found[1]}
local limit = tonumber(ARGV[4])
for _, k in ipairs(found[2]) do
  local ms = redis.call('PTTL', k)
  if ms ~= -2 then
    local size = redis.pcall('STRLEN', k)
    out[#out + 1] = k
    out[#out + 1] = ms
    if type(size) ~= 'number' then
      out[#out + 1] = -1 -- not a string: not a field the session tier wrote
    elseif size <= limit then
      out[#out + 1] = redis.call('GET', k)
    else
      out[#out + 1] = size
    end
  end
end
return out
