#!lua
-- session_put (after put.lua): store one field of a thread only if the thread has room for it: the
-- field exists already, or the thread has fewer than a maximum of fields. The fields are counted
-- here, inside the call, so writers racing for the last places cannot together pass the maximum.
-- A user part's key also joins the set of the thread's parts. No flags: a server out of memory
-- refuses it before it starts.
-- KEYS[1]: the field's key. KEYS[2]: the set of the thread's pending user-part keys (same slot).
-- ARGV: value, expiry ('px' | 'pxat' | ''), amount, part ('1': a user part, else '0'),
--   maximum, pattern (the thread's fields), SCAN count, skip ('': count every field; else the
--   fields whose keys start with it are not counted).
-- -> 1: stored; 0: refused (the field is new and the thread holds the maximum already).
-- Cost: the count SCANs inside this call. On a cluster-mode server the pattern names the thread's
-- hash tag, so the SCAN stays in the thread's slot; on a standalone server it walks the whole
-- keyspace, and the server does nothing else meanwhile. It stops at the maximum.
local key, max, skip = KEYS[1], tonumber(ARGV[5]), ARGV[8]
if redis.call('PTTL', key) == -2 then  -- PTTL, not EXISTS: the least-privilege ACL rule (docs/acl.md) has no +exists
  local cursor, n = '0', 0
  repeat
    local found = redis.call('SCAN', cursor, 'MATCH', ARGV[6], 'COUNT', ARGV[7])
    cursor = found[1]
    for _, k in ipairs(found[2]) do
      if skip == '' or string.sub(k, 1, #skip) ~= skip then n = n + 1 end
    end
    if n >= max then return 0 end
  until cursor == '0'
end
put(key, ARGV[1], ARGV[2], ARGV[3])
if ARGV[4] == '1' then add_part(KEYS[2], key) end
return 1
