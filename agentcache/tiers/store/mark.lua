#!lua
-- store_mark: note that a namespace is in the registry, if it still exists (KEYS[1]: its meta hash).
-- No flags: a server out of memory refuses it before it starts (the next put registers it again).
if redis.call('PTTL', KEYS[1]) == -2 then return 0 end
redis.call('HSET', KEYS[1], 'reg', '1')
return 1
