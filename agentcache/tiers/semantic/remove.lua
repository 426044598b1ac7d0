#!lua
-- semantic_remove: KEYS[1]: the scope's meta key. ARGV: text digest, bands.
-- Remove the entry stored for this text, if any. -> 1 | 0
local id = redis.call('HGET', TEXTS, ARGV[1])
if not id then return 0 end
return remove_entry(id, tonumber(ARGV[2]))
