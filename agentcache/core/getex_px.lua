#!lua flags=allow-oom
-- getex_px: GETEX key PX ms for the in-memory backend, whose GETEX sets a PX expiry in whole
-- seconds, rounded down (core/connect.py sends this instead).
-- KEYS[1]: the key. ARGV[1]: the expiry in milliseconds. Returns the value, or nil.
local v = redis.call('GET', KEYS[1])
if v then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
