-- The start of every conversation script (the loader puts it first): the server's time in ms
-- (`now`), integer formatting (`fmt`) and RPUSH of ARGV from an index on in chunks (`push`).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function fmt(x) return string.format('%d', x) end
local function push(key, first)
  for i = first, #ARGV, 1000 do
    redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
