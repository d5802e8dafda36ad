--[[
  The HTTP API's way in (lib/api/submit.ts): add records to the input stream and mark each id
  queued in its status key, in one step, so an id the API accepted is never unknown (404).
  The status is one string (JSON, lib/stream/status-value.ts) set with its TTL: one command per
  record, where a hash took three (DEL, HSET, PEXPIRE).

  KEYS[1]      input stream ({p}:in)
  KEYS[2..N+1] each record's status key ({p}:status:<id>), in the order of the records
  ARGV[1]      status TTL in ms
  ARGV[2]      now (ms since epoch)
  ARGV[3..2+2N] N pairs: record key, msgpack envelope

  Returns: the N new entry ids, in order.
]]
local ids = {}
local n = #KEYS - 1
for i = 1, n do
  local key = ARGV[1 + 2 * i]
  local id = redis.call('XADD', KEYS[1], '*', 'k', key, 'e', ARGV[2 + 2 * i])
  -- Entry ids and ms times need no JSON escaping.
  redis.call('SET', KEYS[1 + i], '{"s":"queued","q":"' .. id .. '","t":' .. ARGV[2] .. '}', 'PX', ARGV[1])
  ids[i] = id
end
return ids
