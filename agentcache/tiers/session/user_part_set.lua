#!lua
-- user_part_set (after put.lua): store one user part of a thread and add its key to the set of the
-- thread's parts. No flags: a server out of memory refuses it before it starts (never the part
-- without its key).
-- KEYS[1]: the set of the thread's pending user-part keys (same slot as the thread's fields).
-- ARGV: key value expiry ms|at|''  -> 1   SET the part (PX ms, PXAT at, or no expiry), add its key
--       to the set, and keep the set alive at least as long as the part.
put(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
add_part(KEYS[1], ARGV[1])
return 1
