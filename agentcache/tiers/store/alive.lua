#!lua flags=allow-oom
-- store_alive (after prelude.lua): whether the namespace still has an item; one that has none left
-- (they all expired) is deleted on the way. allow-oom: it only removes. -> 1 or 0
local found = 0
walk(function()
  found = 1
  return true
end, '', nil)
return found
