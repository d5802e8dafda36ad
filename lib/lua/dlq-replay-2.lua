--[[
  Replay one dead letter: add its original fields (k and e, byte for byte) as a new entry of its
  original stage stream and delete it from the DLQ, in one step, so a replayed message is neither
  lost (deleted, not re-added) nor doubled (re-added, not deleted, then replayed again).

  KEYS[1]  dead-letter stream ({p}:dlq)
  KEYS[2]  the stage stream to put it back on ({p}:<field "stream" of the entry>)
  ARGV[1]  DLQ entry id
  ARGV[2]  expected value of the entry's "stream" field (guards against a KEYS[2] it did not name)

  Returns: the new entry id on the stage stream; or an error code:
    0 = no such DLQ entry (already replayed or purged), -1 = its "stream" field is not ARGV[2],
    -2 = it carries neither "k" nor "e" (nothing to replay).
]]
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local fields = found[1][2]
local keep = {}
local stream = nil
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'k' or name == 'e' then
    keep[#keep + 1] = name
    keep[#keep + 1] = fields[i + 1]
  elseif name == 'stream' then
    stream = fields[i + 1]
  end
end
if stream ~= ARGV[2] then return -1 end
if #keep == 0 then return -2 end
local id = redis.call('XADD', KEYS[2], '*', unpack(keep))
-- The id XRANGE found, not ARGV[1]: the entry put back is the one deleted, whatever form the caller's id had.
redis.call('XDEL', KEYS[1], found[1][1])
return id
