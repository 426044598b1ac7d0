#!lua flags=allow-oom
-- checkpoint_drop (after prelude.lua): remove some of a thread's checkpoints with their writes.
-- allow-oom: it only removes, which frees memory, so it works when memory is full.
-- ARGV: mode, ...
--   'keep_latest'         keep only the newest checkpoint of each namespace
--   'runs', run id, ...   remove the checkpoints these runs made
-- -> how many checkpoints were removed
local n = 0
if ARGV[1] == 'keep_latest' then
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  for i, member in ipairs(members) do
    local nxt = members[i + 1]
    local ns = string.match(member, '^(.-)%z')
    if nxt and string.match(nxt, '^(.-)%z') == ns then
      drop(member)
      n = n + 1
    end
  end
  settle()
  return n
end
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
local runs = redis.call('HGETALL', KEYS[3])
for i = 1, #runs, 2 do
  if wanted[runs[i + 1]] then
    drop(runs[i])
    n = n + 1
  end
end
settle()
return n
