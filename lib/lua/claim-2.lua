--[[
  Claim entries idle past a limit from any consumer of the group (XAUTOCLAIM) and, when any was
  claimed, increment the group's claim fence in the same step. A consumer whose batch was read
  after it last saw the fence, and who finds the fence unchanged at hand-off, knows that none of
  its entries changed owner in between (handoff-N.lua takes its one-XACK path then).

  KEYS[1]  stream
  KEYS[2]  the group's claim fence ({p}:fence:<group>)
  ARGV[1]  group
  ARGV[2]  claiming consumer
  ARGV[3]  minimum idle time in ms
  ARGV[4]  start id (the cursor of the previous call, 0-0 at first)
  ARGV[5]  COUNT

  Returns: the XAUTOCLAIM reply unchanged: { next cursor, claimed entries, deleted ids }.
]]
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
if #reply[2] > 0 then redis.call('INCR', KEYS[2]) end
return reply
