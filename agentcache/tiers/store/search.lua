#!lua flags=allow-oom
-- store_search (after prelude.lua): the items of one namespace that pass a filter, in insertion order.
-- allow-oom: its only writes refresh TTLs and forget items that are gone.
-- ARGV: refresh ('1': refresh what it returns by each item's TTL), offset, limit ('' for every
-- item that may pass, for the client to filter and page), from (the insertion number to start
-- after; '' for the first item), budget (how many items to look at, at most, so that one call
-- never holds the server long), then per condition: field, op (eq ne gt gte lt lte), kind ('z'
-- None, 's' string, 'n' number; a bool comes as 1 or 0), operand.
-- -> {exact, dead, matched, going, member, v, c, u, member, v, c, u, ...}
--   exact 1: the conditions were judged here; the items are the page [offset, offset + limit) of
--     the matches, matched counts the matches seen (it stops at offset + limit), refreshed if asked.
--   exact 0: every item the conditions did not rule out, nothing refreshed (asked for, or an item's
--     value could not be read here: the client judges, pages and refreshes).
--   going: '' when done, else the insertion number to go on after (the budget ran out).
-- Conditions compare a top-level field of the value as Python does (True == 1, 1 == 1.0, None is
-- also a missing field); gt/gte/lt/lte compare numbers as floats and strings by code point, and
-- any other pair does not match. Values are read straight from their msgpack bytes.

local MARK_BIN, MARK_OTHER = {}, {}  -- a bytes value; an array, map or extension type

local function uint(s, p, n)
  local x = 0
  for i = p, p + n - 1 do x = x * 256 + string.byte(s, i) end
  return x
end

local function int(s, p, n)  -- a big-endian two's complement integer of n bytes (n <= 4)
  local x = uint(s, p, n)
  local half = 2 ^ (8 * n - 1)
  if x >= half then x = x - 2 * half end
  return x
end

local function float(s, p, wide)  -- IEEE 754 binary64 (wide) or binary32, exactly
  local b = {string.byte(s, p, p + (wide and 7 or 3))}
  local sign = b[1] >= 128 and -1 or 1
  local e, m, mbits, bias, top
  if wide then
    e = (b[1] % 128) * 16 + math.floor(b[2] / 16)
    m = b[2] % 16
    for i = 3, 8 do m = m * 256 + b[i] end
    mbits, bias, top = 52, 1023, 2047
  else
    e = (b[1] % 128) * 2 + math.floor(b[2] / 128)
    m = ((b[2] % 128) * 256 + b[3]) * 256 + b[4]
    mbits, bias, top = 23, 127, 255
  end
  if e == top then
    if m == 0 then return sign * math.huge end
    return 0 / 0
  end
  if e == 0 then return sign * m * 2 ^ (1 - bias - mbits) end
  return sign * (1 + m / 2 ^ mbits) * 2 ^ (e - bias)
end

-- The scalar at p: nil, a boolean, a number, a string, MARK_BIN or MARK_OTHER.
local function scalar(s, p)
  local b = string.byte(s, p)
  if b <= 0x7f then return b end
  if b >= 0xe0 then return b - 256 end
  if b >= 0xa0 and b <= 0xbf then return string.sub(s, p + 1, p + b - 0xa0) end
  if b == 0xc0 then return nil end
  if b == 0xc2 then return false end
  if b == 0xc3 then return true end
  if b == 0xd9 or b == 0xda or b == 0xdb then
    local w = b == 0xd9 and 1 or b == 0xda and 2 or 4
    local n = uint(s, p + 1, w)
    return string.sub(s, p + 1 + w, p + w + n)
  end
  if b == 0xc4 or b == 0xc5 or b == 0xc6 then return MARK_BIN end
  if b == 0xcc then return uint(s, p + 1, 1) end
  if b == 0xcd then return uint(s, p + 1, 2) end
  if b == 0xce then return uint(s, p + 1, 4) end
  if b == 0xcf then return uint(s, p + 1, 4) * 4294967296 + uint(s, p + 5, 4) end
  if b == 0xd0 then return int(s, p + 1, 1) end
  if b == 0xd1 then return int(s, p + 1, 2) end
  if b == 0xd2 then return int(s, p + 1, 4) end
  if b == 0xd3 then return int(s, p + 1, 4) * 4294967296 + uint(s, p + 5, 4) end
  if b == 0xca then return float(s, p + 1, false) end
  if b == 0xcb then return float(s, p + 1, true) end
  if b == 0xc1 then error('not msgpack') end
  return MARK_OTHER
end

local FIXEXT = {[0xd4] = 3, [0xd5] = 4, [0xd6] = 6, [0xd7] = 10, [0xd8] = 18}

-- The position after the object at p (with everything inside it).
local function skip(s, p)
  local left = 1
  while left > 0 do
    local b = string.byte(s, p)
    left = left - 1
    if b <= 0x7f or b >= 0xe0 or b == 0xc0 or b == 0xc2 or b == 0xc3 then p = p + 1
    elseif b <= 0x8f then left, p = left + 2 * (b - 0x80), p + 1
    elseif b <= 0x9f then left, p = left + (b - 0x90), p + 1
    elseif b <= 0xbf then p = p + 1 + b - 0xa0
    elseif b == 0xc4 or b == 0xd9 then p = p + 2 + uint(s, p + 1, 1)
    elseif b == 0xc5 or b == 0xda then p = p + 3 + uint(s, p + 1, 2)
    elseif b == 0xc6 or b == 0xdb then p = p + 5 + uint(s, p + 1, 4)
    elseif b == 0xc7 then p = p + 3 + uint(s, p + 1, 1)
    elseif b == 0xc8 then p = p + 4 + uint(s, p + 1, 2)
    elseif b == 0xc9 then p = p + 6 + uint(s, p + 1, 4)
    elseif b == 0xca or b == 0xce or b == 0xd2 then p = p + 5
    elseif b == 0xcb or b == 0xcf or b == 0xd3 then p = p + 9
    elseif b == 0xcc or b == 0xd0 then p = p + 2
    elseif b == 0xcd or b == 0xd1 then p = p + 3
    elseif FIXEXT[b] then p = p + FIXEXT[b]
    elseif b == 0xdc then left, p = left + uint(s, p + 1, 2), p + 3
    elseif b == 0xdd then left, p = left + uint(s, p + 1, 4), p + 5
    elseif b == 0xde then left, p = left + 2 * uint(s, p + 1, 2), p + 3
    elseif b == 0xdf then left, p = left + 2 * uint(s, p + 1, 4), p + 5
    else error('not msgpack') end
    if p > #s + 1 then error('truncated') end
  end
  return p
end

-- The wanted top-level fields of an envelope's value (a map): {name = scalar}. Errors on anything
-- else, which the caller takes as "cannot tell".
local function fields(v, wanted, count)
  local p, n = 8, 0
  local b = string.byte(v, p)
  if b >= 0x80 and b <= 0x8f then n, p = b - 0x80, p + 1
  elseif b == 0xde then n, p = uint(v, p + 1, 2), p + 3
  elseif b == 0xdf then n, p = uint(v, p + 1, 4), p + 5
  else error('not a map') end
  local got, found = {}, 0
  for _ = 1, n do
    local key = scalar(v, p)
    p = skip(v, p)
    if type(key) == 'string' and wanted[key] and got[key] == nil then
      got[key] = scalar(v, p)
      found = found + 1
      if found == count then break end
    end
    p = skip(v, p)
  end
  return got
end

local function bytewise(a, b)  -- -1, 0 or 1: byte order (code point order for UTF-8), not the locale's
  if a == b then return 0 end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  return #a < #b and -1 or 1
end

local function number(v)
  if type(v) == 'number' then return v end
  if type(v) == 'boolean' then return v and 1 or 0 end
  return nil
end

local function equal(v, kind, x)
  if kind == 'z' then return v == nil end
  if kind == 's' then return v == x end
  local n = number(v)
  return n ~= nil and n == x
end

local function order(v, kind, x)  -- -1, 0, 1, or nil when the two do not compare
  if kind == 'n' then
    local n = number(v)
    if n == nil or n ~= n then return nil end
    if n < x then return -1 elseif n > x then return 1 else return 0 end
  end
  if kind == 's' and type(v) == 'string' then return bytewise(v, x) end
  return nil
end

local function passes(v, c)
  if c.op == 'eq' then return equal(v, c.kind, c.x) end
  if c.op == 'ne' then return not equal(v, c.kind, c.x) end
  local o = order(v, c.kind, c.x)
  if o == nil then return false end
  if c.op == 'gt' then return o > 0 elseif c.op == 'gte' then return o >= 0
  elseif c.op == 'lt' then return o < 0 else return o <= 0 end
end

local refresh, offset, limit = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local from, budget = ARGV[4], tonumber(ARGV[5])
local conds, wanted, count = {}, {}, 0
for i = 6, #ARGV, 4 do
  local c = {field = ARGV[i], op = ARGV[i + 1], kind = ARGV[i + 2], x = ARGV[i + 3]}
  if c.kind == 'n' then c.x = tonumber(c.x) end
  conds[#conds + 1] = c
  if not wanted[c.field] then
    wanted[c.field] = true
    count = count + 1
  end
end

-- true, false, or nil: cannot tell here (a value this reader does not take), the client will.
local function judge(v)
  if #conds == 0 then return true end
  local ok, got = pcall(fields, v, wanted, count)
  if not ok then return nil end
  for _, c in ipairs(conds) do
    if not passes(got[c.field], c) then return false end
  end
  return true
end

local function run(exact)
  local out, members, values, matched, unsure = {0, 0, 0, ''}, {}, {}, 0, false
  if exact and limit <= 0 then return out, members, values, matched, false end
  local dead, going = walk(function(member, item)
    local verdict = judge(item[1])
    if verdict == nil and exact then
      unsure = true
      return true
    end
    if verdict == false then return false end
    matched = matched + 1
    if not exact or matched > offset then
      out[#out + 1] = member
      out[#out + 1] = item[1]
      out[#out + 1] = item[2]
      out[#out + 1] = item[3]
      members[#members + 1] = member
      values[#values + 1] = item[1]
    end
    return exact and matched >= offset + limit
  end, from, budget)
  out[2] = dead
  out[4] = going
  return out, members, values, matched, unsure
end

local exact = limit ~= nil
local out, members, values, matched, unsure = run(exact)
if unsure then
  exact = false
  out, members, values, matched = run(false)
end
out[1] = exact and 1 or 0
out[3] = matched
if exact and refresh then touch(members, values) end
return out
