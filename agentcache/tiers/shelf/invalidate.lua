#!lua flags=allow-oom
-- tool_invalidate: KEYS[1]: the result's key.
-- Remove a result (not a lock: a computation in flight stores its result when it finishes). -> 1 | 0
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) ~= 0 then return redis.call('UNLINK', KEYS[1]) end
return 0
