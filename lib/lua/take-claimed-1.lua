--[[
  Count the delivery of an entry this consumer claimed without counting one (claim-3.lua with
  JUSTID: an entry reclaimed from a consumer that stopped holding it) and read it, just before it
  runs, by itself. An entry that never ran (its consumer crashed on another record of its batch)
  is so never charged a delivery it did not get, and only the record that crashes reaches
  maxDeliveries.

  KEYS[1]  stream
  ARGV[1]  group
  ARGV[2]  consumer
  ARGV[3]  entry id

  Returns: { entry id, fields, deliveries counting this one }; or false when the entry is no longer
  this consumer's (another consumer claimed it, or it was acked) or its data was trimmed away
  (XCLAIM has then dropped it from the pending list).
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return false end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
if #claimed == 0 or not claimed[1] then return false end
return { claimed[1][1], claimed[1][2], pending[1][4] + 1 }
