--[[
  Acknowledge review items whose stream entries are gone (trimmed): ack each named id in the
  console's group only if its entry is no longer in the stream (an item that can still be reviewed
  is never cleared this way), and count the acked ones in the console's record.

  KEYS[1]  review stream ({p}:review)
  KEYS[2]  the console's record of trimmed review items ({p}:console:review-trimmed, hash)
  ARGV[1]  the console's group
  ARGV[2..] entry ids

  Returns: the ids acked (those pending in the group whose entries are gone).
]]
local acked = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) == 0 and redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then acked[#acked + 1] = id end
end
if #acked > 0 then redis.call('HINCRBY', KEYS[2], 'acknowledged', #acked) end
return acked
