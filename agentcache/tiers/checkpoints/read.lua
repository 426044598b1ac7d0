#!lua flags=allow-oom
-- checkpoint_read (after prelude.lua): one checkpoint, or a page of them newest first. allow-oom:
-- its only write is the refresh of the thread's TTL (PEXPIRE), so it works when memory is full.
-- ARGV: refresh ttl ms (0: none), mode, ...
--   'get', member ('' for the newest), namespace prefix (<ns> NUL)   -> entry or nil
--   'list', min, max, before id ('' for none), count                   -> {entry, ...}
--     min/max bound a ZREVRANGEBYLEX over the index; the before id filters members of any namespace.
-- entry = {member, checkpoint, write, write, ...}
-- Either mode replies 'lost: ...' (a string) instead when part of the thread is gone (some of its
-- keys evicted or deleted): the checkpoints' index without their entries or the other way round,
-- the pending writes without their index or the other way round, writes without checkpoints,
-- checkpoints marked as having writes without any, or a checkpoint or write the index lists
-- missing its value. The other scripts keep the keys in step (prelude.lua), so these never happen
-- otherwise.
if exists(1) ~= exists(2) then return 'lost: the checkpoint index and the checkpoint entries are not both there' end
if exists(4) ~= exists(5) then return 'lost: the pending writes and their index are not both there' end
if exists(5) and not exists(1) then return 'lost: pending writes are there without their checkpoints' end
if not exists(5) and redis.call('HGET', KEYS[2], '#writes') then return 'lost: the pending writes are gone' end
if tonumber(ARGV[1]) > 0 then expire_all(ARGV[1]) end
if ARGV[2] == 'get' then
  local member = ARGV[3]
  if member == '' then
    local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[4] .. '\255', '[' .. ARGV[4], 'LIMIT', 0, 1)
    if #newest == 0 then return nil end
    member = newest[1]
  elseif not redis.call('ZSCORE', KEYS[1], member) then
    return nil
  end
  return entry(member)
end
local min, max, before, want = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local out = {}
while #out < want do
  local batch = redis.call('ZREVRANGEBYLEX', KEYS[1], max, min, 'LIMIT', 0, want)
  for _, member in ipairs(batch) do
    if before == '' or string.match(member, '%z(.*)$') < before then
      local e = entry(member)
      if type(e) == 'string' then return e end
      out[#out + 1] = e
      if #out >= want then break end
    end
  end
  if #batch < want then break end
  max = '(' .. batch[#batch]
end
return out
