#!lua flags=allow-oom
-- semantic_drop: KEYS[1]: the scope's meta key (<head>m). ARGV: bands.
-- Remove the whole scope: every key under its head (see prelude.lua). -> entries it held
local head = string.sub(KEYS[1], 1, -2)
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local keys = {KEYS[1], head .. 'v', head .. 'r', head .. 'c', head .. 't', head .. 'x', head .. 'u'}
for j = 1, tonumber(ARGV[1]) do keys[#keys + 1] = head .. 'b' .. j end
redis.call('UNLINK', unpack(keys))
return n
