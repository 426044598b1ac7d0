#!lua flags=allow-oom
-- session_scan (after slide.lua)
-- One SCAN step over a thread's keys and the work on what it found, in one round trip.
-- KEYS[1]: a key in the thread's slot (routing only). ARGV: mode, cursor, pattern, count, and for
--   'unlink' optionally a start: keys that start with it are kept.
-- Modes: 'get' -> cursor, key1, value1, ...  (values refreshed by their own TTL)
--        'touch' -> cursor, key1, ...          (refreshed by their own TTL)
--        'keys' -> cursor, key1, ...           (nothing refreshed)
--        'unlink' -> cursor, removed count
-- On a cluster-mode server the pattern names the thread's hash tag, so the SCAN stays in one slot.

local mode = ARGV[1]
local found = redis.call('SCAN', ARGV[2], 'MATCH', ARGV[3], 'COUNT', ARGV[4])
local keys = found[2]
local out = {found[1]}
if mode == 'unlink' then
  local keep, n = ARGV[5] or '', 0
  if keep ~= '' then
    local left = {}
    for _, k in ipairs(keys) do
      if string.sub(k, 1, #keep) ~= keep then left[#left + 1] = k end
    end
    keys = left
  end
  for i = 1, #keys, 1000 do
    n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
  end
  out[2] = n
  return out
end
for _, k in ipairs(keys) do
  if mode == 'get' then
    local v = read(k)
    if v then
      out[#out + 1] = k
      out[#out + 1] = v
    end
  elseif mode == 'touch' then
    local head = redis.call('GETRANGE', k, 0, 6)
    if head ~= '' then
      slide(k, head)
      out[#out + 1] = k
    end
  else
    out[#out + 1] = k
  end
end
return out
