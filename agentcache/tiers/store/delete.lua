#!lua flags=allow-oom
-- store_delete (after prelude.lua): remove one item (KEYS[4]); a namespace left empty goes whole.
-- allow-oom: it only removes, which frees memory, so it works when memory is full.
-- ARGV: member. -> 1 if the item was there, else 0
local removed = redis.call('DEL', KEYS[4])
forget(ARGV[1])
settle()
return removed
