-- The semantic index of one scope (prepended to each script of this tier; keys in keys.py).
-- KEYS[1] is the scope's meta key, <head>m; every other key of the scope is <head><part>, in the
-- same slot (the scope digest is the hash tag). Ids are 4 bytes; vectors float32 little endian.
-- Vectors as Lua numbers, and entry ids as 4 bytes: by Valkey's struct library, or in plain Lua
-- where a Lua runtime has none (the in-memory backend's).
local floats, id_bytes
if struct then
  floats = function(s, dims) return {struct.unpack('<' .. string.rep('f', dims), s)} end
  id_bytes = function(n) return struct.pack('<I4', n) end
else
  floats = function(s, dims)
    local out = {}
    for i = 1, 4 * dims, 4 do
      local b1, b2, b3, b4 = string.byte(s, i, i + 3)
      local sign = 1
      if b4 >= 128 then sign = -1 end
      local exp = (b4 % 128) * 2 + math.floor(b3 / 128)
      local mant = (b3 % 128) * 65536 + b2 * 256 + b1
      if exp == 0 then out[#out + 1] = sign * math.ldexp(mant, -149)
      elseif exp == 255 then out[#out + 1] = 0
      else out[#out + 1] = sign * math.ldexp(mant + 8388608, exp - 150) end
    end
    return out
  end
  id_bytes = function(n)
    return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216) % 256)
  end
end
local HEAD = string.sub(KEYS[1], 1, -2)
local META, VEC, ENTRY, CODES, TEXTS = KEYS[1], HEAD .. 'v', HEAD .. 'r', HEAD .. 'c', HEAD .. 't'
local EXPIRY, USED = HEAD .. 'x', HEAD .. 'u'

local function band_key(j) return HEAD .. 'b' .. j end

local function scope_keys(bands)
  local keys = {META, VEC, ENTRY, CODES, TEXTS, EXPIRY, USED}
  for j = 1, bands do keys[#keys + 1] = band_key(j) end
  return keys
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remove one id from every structure of the scope (its buckets found by its codes). -> 1 | 0
local function remove_entry(id, bands)
  local c = redis.call('HGET', CODES, id)
  if not c then return 0 end
  for j = 1, bands do
    local code = string.sub(c, 2 * j - 1, 2 * j)
    local bucket = redis.call('HGET', band_key(j), code)
    if bucket then
      for k = 1, #bucket, 4 do
        if string.sub(bucket, k, k + 3) == id then
          bucket = string.sub(bucket, 1, k - 1) .. string.sub(bucket, k + 4)
          break
        end
      end
      if #bucket == 0 then redis.call('HDEL', band_key(j), code) else redis.call('HSET', band_key(j), code, bucket) end
    end
  end
  local text = string.sub(c, 2 * bands + 1)
  if redis.call('HGET', TEXTS, text) == id then redis.call('HDEL', TEXTS, text) end
  redis.call('HDEL', VEC, id)
  redis.call('HDEL', ENTRY, id)
  redis.call('HDEL', CODES, id)
  redis.call('ZREM', EXPIRY, id)
  redis.call('ZREM', USED, id)
  redis.call('HINCRBY', META, 'n', -1)
  return 1
end
