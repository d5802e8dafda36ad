--[[
  A match re-check's correction (stages/domain/match-recheck.ts), once: a record matched while a
  shard was behind turned out to have a twin there, so its corrected envelope (duplicateOf set) is
  handed to the match stage's route targets, and a marker notes the correction; a marker already
  there (another worker, or this one before a restart, sent it) sends nothing again. A marker this
  very call set (ARGV[5]: the client sent the call again after its connection dropped, the first
  call's reply lost) is answered as the first call was. Every key is of the record's shard (one slot).

  KEYS[1]    the record's correction marker   ({p:N}:match-corrected:<key>)
  KEYS[2..]  the route targets' streams       ({p:N}:<stream>)
  ARGV[1]    record key
  ARGV[2]    the twin's key (duplicateOf)
  ARGV[3]    the corrected envelope (msgpack)
  ARGV[4]    the marker's TTL, ms
  ARGV[5]    this call's id (a UUID)

  The marker's value: the twin's key, "\0", the id of the call that set it.
  Returns: 1 if the correction was sent (by this call), 0 if a marker said it had been.
]]
local marker = redis.call('GET', KEYS[1])
if marker then
  if string.sub(marker, -(#ARGV[5] + 1)) == '\0' .. ARGV[5] then
    return 1
  end
  return 0
end
for k = 2, #KEYS do
  redis.call('XADD', KEYS[k], '*', 'k', ARGV[1], 'e', ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[2] .. '\0' .. ARGV[5], 'PX', ARGV[4])
return 1
