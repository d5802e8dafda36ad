--[[
  Purge dead letters: delete each named entry of the DLQ that is there, and say which ones this
  call deleted. XDEL answers only a count, so a caller that reported the ids it asked for named
  entries another purge (or a replay) had removed first; here each is found and deleted in the
  same step, so two purges of the same entries each name only the ones they removed.

  KEYS[1]  dead-letter stream ({p}:dlq)
  ARGV[1..] DLQ entry ids (<ms>-<seq>)

  Returns: the ids deleted, as the stream has them (XRANGE's form, not the caller's), in ARGV order;
  an id named twice, or gone already, is not in it.
]]
local purged = {}
for i = 1, #ARGV do
  local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #found > 0 then
    redis.call('XDEL', KEYS[1], found[1][1])
    purged[#purged + 1] = found[1][1]
  end
end
return purged
