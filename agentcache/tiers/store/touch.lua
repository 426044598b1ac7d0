#!lua flags=allow-oom
-- store_touch (after prelude.lua): refresh these items of the namespace by their own TTLs (what a
-- search returned, when it could not refresh them in the call that found them). allow-oom: it only
-- refreshes TTLs. ARGV: member, ... -> how many of them were there
local members, values = {}, {}
for _, member in ipairs(ARGV) do
  local v = redis.call('HGET', HEAD .. member, 'v')
  if v then
    members[#members + 1] = member
    values[#values + 1] = v
  end
end
touch(members, values)
return #members
