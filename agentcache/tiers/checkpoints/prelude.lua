-- Shared by the checkpoint scripts. KEYS (always these five, one thread, one slot):
--   1 idx: sorted set of members <ns> NUL <id>   2 cp: hash member -> entry   3 runs: hash member -> run id
--   4 w: hash write field -> write                5 widx: sorted set of write fields (<member> NUL <task> NUL <idx>)

-- Give every existing key of the thread this TTL (ms); 0 leaves them as they are.
local function expire_all(ttl)
  ttl = tonumber(ttl)
  if ttl and ttl > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end

-- The write fields of one checkpoint member, in order.
local function writes_of(member)
  return redis.call('ZRANGEBYLEX', KEYS[5], '[' .. member .. '\0', '(' .. member .. '\0\255')
end

-- Remove one checkpoint and its writes.
local function drop(member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('HDEL', KEYS[3], member)
  local fields = writes_of(member)
  for i = 1, #fields, 1000 do
    local chunk = {unpack(fields, i, math.min(i + 999, #fields))}
    redis.call('HDEL', KEYS[4], unpack(chunk))
    redis.call('ZREM', KEYS[5], unpack(chunk))
  end
end

-- One checkpoint as the reply carries it: {member, entry, write1, write2, ...}; nil if it is gone.
local function entry(member)
  local value = redis.call('HGET', KEYS[2], member)
  if not value then return nil end
  local out = {member, value}
  local fields = writes_of(member)
  if #fields > 0 then
    local writes = redis.call('HMGET', KEYS[4], unpack(fields))
    for _, w in ipairs(writes) do
      if w then out[#out + 1] = w end
    end
  end
  return out
end
