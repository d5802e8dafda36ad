--[[
  Trim a stream below the oldest entry any of its consumer groups still needs, in one step (a
  group created or a read made between a check and the trim cannot slip through):
  for each group, its oldest pending entry, or else the entry after its last-delivered-id.
  Everything below that has been delivered to and acked by every group. A stream without
  groups is not trimmed (nothing is known to be processed).

  KEYS[1]  stream

  Returns: { number of entries removed, the MINID used or "" }.
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.
if redis.call('EXISTS', KEYS[1]) == 0 then return { 0, '' } end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local safe = nil
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local ms, seq = stream_id(info['last-delivered-id'])
  local need = string.format('%d-%d', ms, seq + 1)
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    need = summary[2]
  end
  if safe == nil or stream_id_older(need, safe) then safe = need end
end
if safe == nil then return { 0, '' } end
return { redis.call('XTRIM', KEYS[1], 'MINID', '~', safe), safe }
