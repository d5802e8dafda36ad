--[[
  Create a webhook's consumer group if it is missing, with its entries-read counter set where it
  can be, in one step: a group created without one (XGROUP CREATE on a stream that exists, or
  MKSTREAM) has none, and once the capped stream is trimmed Redis can never count it again, so
  webhook-missed-1.lua could not tell how many completions a lagging group lost.

  Where: at the stream's end (`$`: a new webhook gets the completions from now on, not the
  stream's history), unless ARGV[2] names the position the calling reader last delivered up to
  (the group vanished under it: an operator's XGROUP DESTROY, or Redis restarted without its
  data). Then the group is made again there, so what was added while it was gone is sent (what
  other readers had sent past that position is sent again: at least once). A stream whose last
  id is older than that position is not the one the reader read (made anew after a loss): the
  group starts at its beginning.

  KEYS[1]  the completion stream ({p}:done, or a shard's {p:N}:done)
  ARGV[1]  the group (webhook:<name>)
  ARGV[2]  optional: the reader's position, an entry id ("" or absent: none)

  Returns: 0 it existed; 1 created at the end; 2 created at ARGV[2]; 3 created at the beginning.
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM', 'ENTRIESREAD', 0)
  return 1
end
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  for i = 1, #row, 2 do
    if row[i] == 'name' and row[i + 1] == ARGV[1] then return 0 end
  end
end
local s = {}
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
local from = ARGV[2]
if stream_id(from) then
  if stream_id_older(s['last-generated-id'], from) then
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0-0', 'ENTRIESREAD', 0)
    return 3
  end
  -- No counter: Redis works it out when the group reads the stream's last entry (webhook-missed-1.lua
  -- takes a position before the first entry without one for a loss of unknown size).
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], from)
  return 2
end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'ENTRIESREAD', s['entries-added'])
return 1
