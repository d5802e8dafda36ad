--[[
  Claim entries idle past a limit from any consumer of the group (XAUTOCLAIM) and, when any was
  claimed, set the group's claim fence to a new value in the same step. A consumer whose batch was
  read after it last saw the fence, and who finds the fence unchanged at hand-off, knows that none
  of its entries changed owner in between (handoff-N.lua takes its one-XACK path then).

  The new value is a token never used before (the caller's random one), not a counter: a failover
  or a restart that lost a claim's write takes the fence back to an older value, and a counter
  would then reach again a value a consumer saw before the loss, letting it take the one-XACK path
  for entries that changed owner. A token that was lost is never current again.

  KEYS[1]  stream
  KEYS[2]  the group's claim fence ({p}:fence:<group>)
  ARGV[1]  group
  ARGV[2]  claiming consumer
  ARGV[3]  minimum idle time in ms
  ARGV[4]  start id (the cursor of the previous call, 0-0 at first)
  ARGV[5]  COUNT
  ARGV[6]  the fence's new value if anything is claimed: unique per call (lib/worker/reclaimer.ts).
           Absent or '': the server's TIME, microseconds (unique per server; a clock set back could repeat one).
  ARGV[7]  optional 'JUSTID': claim the ids only, without counting a delivery (the reclaimer does,
           and counts each one when it runs it: take-claimed-1.lua)

  Returns: the XAUTOCLAIM reply unchanged: { next cursor, claimed entries (or ids), deleted ids }.
]]
local reply
if ARGV[7] == 'JUSTID' then
  reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'JUSTID')
else
  reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
end
if #reply[2] > 0 then
  local token = ARGV[6]
  if not token or token == '' then
    local t = redis.call('TIME')
    token = 't' .. t[1] .. '.' .. t[2]
  end
  redis.call('SET', KEYS[2], token)
end
return reply
