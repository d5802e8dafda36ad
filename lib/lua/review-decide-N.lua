--[[
  Apply one review decision in one step: ack the review entry in the console's group, put the
  corrected envelope on the stage stream(s) the routing table chose, and keep the decision as a
  label. A decision that lost a race (another reviewer acked the entry first) changes nothing, so
  a product is never sent back twice for one review item.

  KEYS[1]   review stream ({p}:review)
  KEYS[2]   labels stream ({p}:labels)
  KEYS[3..] target stage streams ({p}:extract.electronics, ...)
  ARGV[1]   the console's group on the review stream
  ARGV[2]   review entry id
  ARGV[3]   record key (field k)
  ARGV[4]   corrected envelope (field e, msgpack)
  ARGV[5]   label JSON (field label)

  Returns: the list of new entry ids on the targets, or 0 when the entry was not pending in the
  group (decided already, or never read by the console).
]]
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local ids = {}
for i = 3, #KEYS do
  ids[#ids + 1] = redis.call('XADD', KEYS[i], '*', 'k', ARGV[3], 'e', ARGV[4])
end
redis.call('XADD', KEYS[2], '*', 'label', ARGV[5])
return ids
