-- checkpoint_read (after prelude.lua): one checkpoint, or a page of them newest first.
-- ARGV: refresh ttl ms (0: none), mode, ...
--   'get', member ('' for the newest), namespace prefix (<ns> NUL)   -> entry or nil
--   'list', min, max, before id ('' for none), count                   -> {entry, ...}
--     min/max bound a ZREVRANGEBYLEX over the index; the before id filters members of any namespace.
-- entry = {member, checkpoint, write, write, ...}
expire_all(ARGV[1])
if ARGV[2] == 'get' then
  local member = ARGV[3]
  if member == '' then
    local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[4] .. '\255', '[' .. ARGV[4], 'LIMIT', 0, 1)
    if #newest == 0 then return nil end
    member = newest[1]
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
      if e then
        out[#out + 1] = e
        if #out >= want then break end
      end
    end
  end
  if #batch < want then break end
  max = '(' .. batch[#batch]
end
return out
