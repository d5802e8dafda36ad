--[[
  Acknowledge review items whose stream entries are gone (trimmed): ack each named id in the
  console's group only if its entry is no longer in the stream (an item that can still be reviewed
  is never cleared this way), and count the acked ones in the console's record. The record keeps
  the last call's token and the ids it acked: a call sent again after its connection dropped
  (ioredis re-sends what was not answered) is answered as the first, and acks nothing again.

  KEYS[1]  review stream ({p}:review)
  KEYS[2]  the console's record of trimmed review items ({p}:console:review-trimmed, hash)
  ARGV[1]  the console's group
  ARGV[2]  this call's token ("" when the caller has none)
  ARGV[3..] entry ids

  Returns: the ids acked (those pending in the group whose entries are gone).
]]
local acked = {}
if ARGV[2] ~= '' then
  local last = redis.call('HMGET', KEYS[2], 'ack_call', 'ack_call_ids')
  if last[1] == ARGV[2] then
    for v in string.gmatch(last[2] or '', '[^,]+') do acked[#acked + 1] = v end
    return acked
  end
end
for i = 3, #ARGV do
  local id = ARGV[i]
  if #redis.call('XRANGE', KEYS[1], id, id) == 0 and redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then acked[#acked + 1] = id end
end
if #acked > 0 then redis.call('HINCRBY', KEYS[2], 'acknowledged', #acked) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'ack_call', ARGV[2], 'ack_call_ids', table.concat(acked, ',')) end
return acked
