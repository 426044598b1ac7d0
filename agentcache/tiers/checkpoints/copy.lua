#!lua
-- checkpoint_copy (after prelude.lua): add another thread's checkpoints and writes (read in the
-- round trip before) to this thread, in one call. No flags: a server out of memory refuses it
-- before it starts, never a copy of some of the checkpoints.
-- ARGV: ttl ms (0: none), then the lengths of the five flat lists that follow, in order:
--   entries (member, entry, ...), runs (member, run id, ...), writes (field, write, ...),
--   members, write fields.  -> 1
local at = 7
local function chunks(n, each)
  for i = at, at + n - 1, 1000 do each(i, math.min(i + 999, at + n - 1)) end
  at = at + n
end
local hashes = {KEYS[2], KEYS[3], KEYS[4]}
for n = 1, 3 do
  chunks(tonumber(ARGV[1 + n]), function(i, j) redis.call('HSET', hashes[n], unpack(ARGV, i, j)) end)
end
local sorted = {KEYS[1], KEYS[5]}
for n = 1, 2 do
  chunks(tonumber(ARGV[4 + n]), function(i, j)
    local scored = {}
    for k = i, j do
      scored[#scored + 1] = 0
      scored[#scored + 1] = ARGV[k]
    end
    redis.call('ZADD', sorted[n], unpack(scored))
  end)
end
if exists(5) and exists(2) then redis.call('HSET', KEYS[2], '#writes', '1') end
expire_all(ARGV[1])
return 1
