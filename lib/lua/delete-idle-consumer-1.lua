--[[
  Remove a consumer from a group only if it owns no pending entries and has been idle long enough.
  Checked and deleted in one script: XGROUP DELCONSUMER would otherwise drop entries the consumer
  read between a check and the delete.

  KEYS[1]  stream
  ARGV[1]  group
  ARGV[2]  consumer name
  ARGV[3]  minimum idle time in ms

  Returns: 1 if removed, 0 if kept (still owns entries, recently active, or unknown).
]]
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] == ARGV[2] then
    if tonumber(info['pending']) == 0 and tonumber(info['idle']) >= tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
