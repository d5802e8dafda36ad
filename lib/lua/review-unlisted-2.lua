--[[
  Count the review entries trimmed before the console's group was delivered them, once, and put
  the group's read counter right. Entries trimmed past the group's last-delivered-id leave Redis'
  read counter (entries-read) behind for good, so XINFO's lag stays that many too high even after
  the group reads on; here, while the stream's first entry is still after the group's position (or
  the stream is empty), the gap is exact: entries-added - entries-read - length (at most the entries
  gone less the group's pending ones: a failed-back master's counter is short). It is added to the
  record and the counter set to what the group would have read (XGROUP SETID ... ENTRIESREAD), so
  the lag is the stream's length again and the same gap is never counted twice.

  KEYS[1]  review stream ({p}:review)
  KEYS[2]  the console's record of trimmed review items ({p}:console:review-trimmed, hash)
  ARGV[1]  the console's group
  ARGV[2]  optional: most entries counted after the group's position while it is in the stream

  With ARGV[2], while the group's position is in the stream (its last-delivered-id at or after the
  first entry), the entries after it are counted (at most ARGV[2]) and, when fewer, the read
  counter is set to entries-added less them if it is not already: a master failed over and back
  keeps a counter short by every entry read on the other master (lib/stream/group-lag.ts), and a
  trim past the group later would count those entries as unlisted (the bound below is loose by the
  items decided meanwhile). The record's `read` (the most entries-read the console saw: the record
  is replicated, the counter is not) is set to it. The caller asks when it cannot believe the lag,
  or the counter is below that `read`.

  Returns: the entries counted now as unlisted (0 when there was no gap, or Redis cannot tell it);
  with ARGV[2] and the group's position in the stream, the entries after it instead.
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local group = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then group = info end
end
if group == nil or not group['entries-read'] then return 0 end
local s = redis.call('XINFO', 'STREAM', KEYS[1])
local stream = {}
for i = 1, #s, 2 do stream[s[i]] = s[i + 1] end
local first = stream['first-entry']
if first and not stream_id_older(group['last-delivered-id'], first[1]) then
  if not ARGV[2] then return 0 end
  local cap = tonumber(ARGV[2])
  local after = #redis.call('XRANGE', KEYS[1], '(' .. group['last-delivered-id'], '+', 'COUNT', cap)
  local read = tonumber(stream['entries-added']) - after
  if after < cap then
    if not group['entries-read'] or tonumber(group['entries-read']) ~= read then
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], group['last-delivered-id'], 'ENTRIESREAD', read)
    end
    redis.call('HSET', KEYS[2], 'read', read)
  end
  return after
end
local length = tonumber(stream['length'])
local gap = tonumber(stream['entries-added']) - tonumber(group['entries-read']) - length
-- The group's pending entries are at or before its last-delivered-id, so gone too: delivered, not
-- unlisted. A master failed over and back keeps a read counter short by every entry read on the
-- other master (lib/stream/group-lag.ts), which the gap had counted as unlisted: not more than the
-- entries gone less the pending ones.
gap = math.min(gap, tonumber(stream['entries-added']) - length - tonumber(group['pending']))
if gap <= 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'unlisted', gap)
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], group['last-delivered-id'], 'ENTRIESREAD', tonumber(stream['entries-added']) - length)
return gap
