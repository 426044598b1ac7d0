#!lua flags=allow-oom
-- tool_release: KEYS[1]: the result's key. ARGV[1]: this caller's lock.
-- Give up a claim (the function failed): remove the lock only if it is still this caller's.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
