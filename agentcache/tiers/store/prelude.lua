-- Shared by the store's namespace scripts. KEYS (one namespace, one slot): 1 idx (sorted set of
-- escaped item keys by insertion number), 2 meta (hash: seq, reg), 3 forever (set: the items without
-- a TTL), and for one-item scripts 4 the item (hash: v value envelope, c created, u updated).
-- The item keys are the index key with 'idx' replaced by 'i:' and the member appended (same slot).
-- idx and meta live at least as long as every item: forever while one has no TTL, else they get the
-- longest item TTL they have seen (so the namespace can hold members of items that expired: every
-- walk below removes those, and a namespace left with none is deleted: 'dead').
local HEAD = string.sub(KEYS[1], 1, -4) .. 'i:'

-- Whether KEYS[i] exists (an empty set or sorted set does not): PTTL, which the least-privilege ACL rule (docs/acl.md) allows.
local function exists(i) return redis.call('PTTL', KEYS[i]) ~= -2 end

-- The TTL (ms) an item's value carries in its header (version 1, 6 bytes of ms); 0: none.
local function slide_of(v)
  if v and #v >= 7 and string.byte(v, 1) == 1 then
    local a, b, c, d, e, f = string.byte(v, 2, 7)
    return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
  end
  return 0
end

-- Let idx and meta live at least ms more (and as long as each other), unless an item never expires.
local function cover(ms)
  if exists(3) then return end
  local left = {redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])}
  local want = ms
  for i = 1, 2 do if left[i] > want then want = left[i] end end
  for i = 1, 2 do
    if left[i] == -1 or (left[i] >= 0 and left[i] < want) then redis.call('PEXPIRE', KEYS[i], want) end
  end
end

-- The same when idx and meta already live as long as every item but this one: each keeps the
-- longer of its TTL and ms (GT leaves a key without TTL alone: then an item never expires).
local function extend(ms)
  redis.call('PEXPIRE', KEYS[1], ms, 'GT')
  redis.call('PEXPIRE', KEYS[2], ms, 'GT')
end

-- The last item without a TTL is gone: give idx and meta the longest TTL of the items left.
local function recover()
  local most, from = 0, '-inf'
  while true do
    local batch = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 500)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local p = redis.call('PTTL', HEAD .. batch[i])
      if p > most then most = p end
    end
    from = '(' .. batch[#batch]
  end
  if most > 0 then  -- (+1: PTTL rounds down, and the namespace must not go before its items)
    for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], most + 1) end
  end
end

-- Forget an item that is gone (expired, or removed outside the store): its member and its mark.
local function forget(member)
  redis.call('ZREM', KEYS[1], member)
  if redis.call('SREM', KEYS[3], member) == 1 and not exists(3) then recover() end
end

-- After removals: a namespace with no member left is deleted whole (its meta with it, so the next
-- put registers it again). Returns 1 when the namespace is dead.
local function settle()
  if exists(1) then return 0 end
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 1
end

-- Walk the live items in insertion order, after the insertion number `from` ('' for the start),
-- looking at `budget` members at most (nil: no limit): each(member, {v, c, u}) returns true to
-- stop. Members of items that are gone are forgotten on the way. Returns 1 when the namespace
-- turned out dead (else 0), and the insertion number to go on after when the budget ran out
-- before the end ('' otherwise).
local function walk(each, from, budget)
  local low, gone, seen, going = '-inf', {}, 0, ''
  if from and from ~= '' then low = '(' .. from end
  while true do
    local n = 200
    if budget then n = math.min(n, budget - seen) end
    if n <= 0 then
      going = string.sub(low, 2)
      break
    end
    local batch = redis.call('ZRANGEBYSCORE', KEYS[1], low, '+inf', 'WITHSCORES', 'LIMIT', 0, n)
    if #batch == 0 then break end
    local stop = #batch < 2 * n  -- (fewer than asked: the last batch)
    for i = 1, #batch, 2 do
      seen = seen + 1
      local item = redis.call('HMGET', HEAD .. batch[i], 'v', 'c', 'u')
      if not item[1] then
        gone[#gone + 1] = batch[i]
      elseif each(batch[i], item) then
        stop = true
        going = ''
        break
      end
    end
    low = '(' .. batch[#batch]
    if stop then break end
  end
  for _, member in ipairs(gone) do forget(member) end
  return settle(), going
end

-- Refresh these items by their own TTL, and the namespace's keys to cover them.
local function touch(members, values)
  local most = 0
  for i, member in ipairs(members) do
    local ms = slide_of(values[i])
    if ms > 0 then
      redis.call('PEXPIRE', HEAD .. member, ms)
      if ms > most then most = ms end
    end
  end
  if most > 0 then extend(most) end
end
