#!lua flags=no-writes
-- monitor_node: one server's health in one call, sent to each primary in turn (no keys: the caller
-- addresses the node). Reads only; small reply (the fields below, not the whole INFO).
-- ARGV[1]: up to how many keys the census looks at each key; ARGV[2]: above that, how many keys it
--          samples; ARGV[3..]: key heads (a key counts for the first head it starts with; keys
--          matching none count apart, last).
-- -> {info fields (flat name, value list; empty if INFO is refused), cluster fields (same; empty on a
--     server not in cluster mode), {keys looked at, complete (1: each key; 0: a sample), keys in the
--     database, count per head..., count of the others}}
local wanted = {
  run_id = true, uptime_in_seconds = true, connected_clients = true, blocked_clients = true,
  used_memory = true, maxmemory = true, maxmemory_policy = true, evicted_keys = true,
  expired_keys = true, instantaneous_ops_per_sec = true, keyspace_hits = true, keyspace_misses = true,
  role = true, connected_slaves = true, master_link_status = true, second_repl_offset = true,
  valkey_version = true, redis_version = true, total_net_input_bytes = true, total_net_output_bytes = true,
}
local function fields(text, pick)
  local out = {}
  if type(text) ~= 'string' then return out end
  for name, value in string.gmatch(text, '([%w_]+):([^\r\n]*)') do
    if pick(name) then
      out[#out + 1] = name
      out[#out + 1] = value
    end
  end
  return out
end
local info = redis.pcall('INFO', 'server', 'clients', 'memory', 'stats', 'replication')
local mine = fields(info, function(name) return wanted[name] or string.match(name, '^slave%d+$') ~= nil end)
local cluster = fields(redis.pcall('CLUSTER', 'INFO'), function(name)
  return name == 'cluster_state' or name == 'cluster_current_epoch' or name == 'cluster_known_nodes'
    or name == 'cluster_size'
end)

local budget, samples = tonumber(ARGV[1]), tonumber(ARGV[2])
local heads = {}
for i = 3, #ARGV do heads[#heads + 1] = ARGV[i] end
local counts = {}
for i = 1, #heads + 1 do counts[i] = 0 end
local function count(key)
  for i, head in ipairs(heads) do
    if string.sub(key, 1, #head) == head then
      counts[i] = counts[i] + 1
      return
    end
  end
  counts[#heads + 1] = counts[#heads + 1] + 1
end
-- Few keys: look at each one. Many: the first keys SCAN finds, a sample at random with respect to
-- their names (the table's order is that of a hash of the name).
local total, examined, cursor = redis.call('DBSIZE'), 0, '0'
local wanted_keys = total <= budget and budget or samples
repeat
  local step = redis.call('SCAN', cursor, 'COUNT', 100)
  cursor = step[1]
  for _, key in ipairs(step[2]) do
    examined = examined + 1
    count(key)
  end
until cursor == '0' or examined >= wanted_keys
local complete = cursor == '0' and 1 or 0
local census = {examined, complete, total}
for i = 1, #counts do census[#census + 1] = counts[i] end
return {mine, cluster, census}
