#!lua
-- semantic_lookup: KEYS[1]: the scope's meta key.
-- ARGV: query vector (float32 LE), probes (per band, 1 + flips uint16 LE codes), text digest,
-- lowest similarity to return, candidates to verify, bands, probes per band, dimensions,
-- entries to return at most.
-- Count the ids in the probed buckets, verify the most counted (and the same text's entry, if
-- stored) by exact cosine, and return the most similar live entries at or above the lowest
-- similarity, best first (the client's guard may refuse the best), marking the best used.
-- -> {verified, similarity (string), entry, similarity, entry, ...}
local query, probes, text = ARGV[1], ARGV[2], ARGV[3]
local low, most, bands, per, dims = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local wanted = tonumber(ARGV[9])
local counts = {}
local ids = {}
local function count(id, by)
  local seen = counts[id]
  if not seen then ids[#ids + 1] = id; counts[id] = by else counts[id] = seen + by end
end
local same = redis.call('HGET', TEXTS, text)
if same then count(same, bands * per + 1) end
for j = 1, bands do
  local fields = {}
  for p = 1, per do
    local at = ((j - 1) * per + p - 1) * 2 + 1
    fields[p] = string.sub(probes, at, at + 1)
  end
  for _, bucket in ipairs(redis.call('HMGET', band_key(j), unpack(fields))) do
    if bucket then
      for k = 1, #bucket, 4 do count(string.sub(bucket, k, k + 3), 1) end
    end
  end
end
if #ids == 0 then return {0} end
-- the most counted first: a bucket sort by count (counts are small integers)
local by = {}
local top = 0
for _, id in ipairs(ids) do
  local c = counts[id]
  if not by[c] then by[c] = {} end
  local list = by[c]
  list[#list + 1] = id
  if c > top then top = c end
end
local chosen = {}
for c = top, 1, -1 do
  local list = by[c]
  if list then
    for _, id in ipairs(list) do
      if #chosen >= most then break end
      chosen[#chosen + 1] = id
    end
  end
  if #chosen >= most then break end
end
local q = floats(query, dims)
local vectors = redis.call('HMGET', VEC, unpack(chosen))
local found = {}
for i, v in ipairs(vectors) do
  if v and #v == 4 * dims then
    local x = floats(v, dims)
    local s = 0
    for d = 1, dims do s = s + q[d] * x[d] end
    if s >= low then found[#found + 1] = {chosen[i], s} end
  end
end
table.sort(found, function(a, b) return a[2] > b[2] end)
local now = now_ms()
local out = {#chosen}
for _, hit in ipairs(found) do
  local expires = redis.call('ZSCORE', EXPIRY, hit[1])
  if expires and (expires == 'inf' or tonumber(expires) > now) then
    local entry = redis.call('HGET', ENTRY, hit[1])
    if entry then
      if #out == 1 then redis.call('ZADD', USED, now, hit[1]) end
      out[#out + 1] = string.format('%.17g', hit[2])
      out[#out + 1] = entry
      if #out >= 1 + 2 * wanted then break end
    end
  end
end
return out
