--[[
  Create a webhook's consumer group at the end of the completion stream (`$`: a new webhook gets
  the completions from now on, not the stream's history) with its entries-read counter set, in
  one step: a group created without one (XGROUP CREATE on a stream that exists, or MKSTREAM)
  has none, and once the capped stream is trimmed Redis can never count it again, so
  webhook-missed-1.lua could not tell how many completions a lagging group lost.

  KEYS[1]  the completion stream ({p}:done, or a shard's {p:N}:done)
  ARGV[1]  the group (webhook:<name>)

  Returns: 1 created, 0 it existed.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM', 'ENTRIESREAD', 0)
  return 1
end
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  for i = 1, #row, 2 do
    if row[i] == 'name' and row[i + 1] == ARGV[1] then return 0 end
  end
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added = 0
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1] end
end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'ENTRIESREAD', added)
return 1
