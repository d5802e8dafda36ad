--[[
  `pipeline reprocess` (lib/ops/reprocess.ts): put one stored product back on a stage's stream, at
  most once per stored version, in one step. When the product's marker already names this stored
  version (ARGV[2], the store entry that wrote it), a run put it back and its new version is not
  stored yet: nothing is written. When that run is this one (ARGV[8]: the client sent the call again
  after its connection dropped, the first call's reply lost), the answer is the first call's.
  Otherwise the envelope is added to the stage stream and the marker set (with a TTL) in the same step.

  KEYS[1]  the product's marker hash ({p}:reprocess:<key>)
  KEYS[2]  the stage stream it re-enters ({p}:<stage input>)
  ARGV[1]  product key
  ARGV[2]  the store entry id of the stored version put back
  ARGV[3]  the envelope (msgpack)
  ARGV[4]  stage name (kept in the marker)
  ARGV[5]  the envelope's origin (kept in the marker; "" when it has none)
  ARGV[6]  marker TTL in ms
  ARGV[7]  now (ms since epoch, kept in the marker)
  ARGV[8]  this run's id (kept in the marker; "" when the caller has none)

  Returns: {1, new entry id} (this run put it back); or {0, entry id of another run that has it in flight}.
]]
local marker = redis.call('HMGET', KEYS[1], 'from', 'entry', 'run')
if marker[1] == ARGV[2] then
  if ARGV[8] and ARGV[8] ~= '' and marker[3] == ARGV[8] then return {1, marker[2] or ''} end
  return {0, marker[2] or ''}
end
local id = redis.call('XADD', KEYS[2], '*', 'k', ARGV[1], 'e', ARGV[3])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'from', ARGV[2], 'stage', ARGV[4], 'origin', ARGV[5], 'entry', id, 't', ARGV[7], 'run', ARGV[8] or '')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, id}
