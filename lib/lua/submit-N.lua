--[[
  The HTTP API's way in (lib/api/submit.ts): add records to the input stream and mark each id
  queued in its status key, in one step, so an id the API accepted is never unknown (404).
  The status is one string (JSON, lib/stream/status-value.ts) set with its TTL: one command per
  record, where a hash took three (DEL, HSET, PEXPIRE).
  Exactly once per call: each call carries a random token, kept in KEYS[2] in the same step as the
  XADDs. A call sent again after its connection dropped (ioredis re-sends what was not answered;
  the API retries one whose outcome it does not know) finds the token and adds nothing.

  KEYS[1]      input stream ({p}:in)
  KEYS[2]      this call's marker ({p}:in:submit:<token>)
  KEYS[3..N+2] each record's status key ({p}:status:<id>), in the order of the records
  ARGV[1]      status TTL in ms
  ARGV[2]      now (ms since epoch)
  ARGV[3]      marker TTL in ms
  ARGV[4..3+2N] N pairs: record key, msgpack envelope

  Returns: N when the records were added now, 0 when this call had already been applied.
]]
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local n = #KEYS - 2
for i = 1, n do
  local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[2 + 2 * i], 'e', ARGV[3 + 2 * i])
  -- Entry ids and ms times need no JSON escaping.
  redis.call('SET', KEYS[2 + i], '{"s":"queued","q":"' .. id .. '","t":' .. ARGV[2] .. '}', 'PX', ARGV[1])
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return n
