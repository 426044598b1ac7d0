-- Shared by the checkpoint scripts. KEYS (always these five, one thread, one slot):
--   1 idx: sorted set of members <ns> NUL <id>   2 cp: hash member -> entry   3 runs: hash member -> run id
--   4 w: hash write field -> write                5 widx: sorted set of write fields (<member> NUL <task> NUL <idx>)

--   cp also holds '#writes' (no NUL: never a member) = '1' while the thread has pending writes, so a
--   read can tell writes that are gone from writes never made.
-- The keys are written and removed together, and expire together, so a read that finds them out of
-- step knows part of the thread was lost (evicted, or deleted by hand): see read.lua.

local function exists(i) return redis.call('PTTL', KEYS[i]) ~= -2 end

-- Give every existing key of the thread this TTL (ms). 0: keys without a TTL take the one the
-- thread's other keys have, if any, so that no part of a thread outlives the rest.
local function expire_all(ttl)
  ttl = tonumber(ttl)
  if ttl and ttl > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
    return
  end
  local left, bare = 0, {}
  for i = 1, 5 do
    local p = redis.call('PTTL', KEYS[i])
    if p > left then left = p elseif p == -1 then bare[#bare + 1] = i end
  end
  if left > 0 then
    for _, i in ipairs(bare) do redis.call('PEXPIRE', KEYS[i], left) end
  end
end

-- After removals: drop the '#writes' mark once the thread has no writes (or no checkpoints).
local function settle()
  if not (exists(1) and exists(5)) then redis.call('HDEL', KEYS[2], '#writes') end
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

-- One checkpoint of the index as the reply carries it: {member, entry, write1, write2, ...}; or a
-- string 'lost: ...' when its entry or one of its writes is gone (evicted or deleted by hand).
local function entry(member)
  local value = redis.call('HGET', KEYS[2], member)
  if not value then return 'lost: a checkpoint in the index has no entry' end
  local out = {member, value}
  local fields = writes_of(member)
  if #fields > 0 then
    local writes = redis.call('HMGET', KEYS[4], unpack(fields))
    for _, w in ipairs(writes) do
      if not w then return 'lost: a pending write in the index has no value' end
      out[#out + 1] = w
    end
  end
  return out
end
