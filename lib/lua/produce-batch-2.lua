--[[
  Add one producer batch to the input stream exactly once. A producer numbers its batches 1, 2, ...
  and keeps the last applied number here, in the same step as the XADDs: when the connection drops
  before the reply, the same batch can be sent again (by the client's resend or by the producer)
  and is skipped if it had gone through. With the AOF on, the number and the entries are persisted
  together.

  KEYS[1]  input stream              ({p}:in)
  KEYS[2]  this producer's state key ({p}:in:producer:<producer id>)
  ARGV[1]  batch sequence number (integer, increasing per producer)
  ARGV[2]  state key TTL in ms (renewed on every batch)
  ARGV[3]  number of entries N
  ARGV[4..3+2N]  N pairs: record key, msgpack envelope

  Returns: N if the batch was added now, 0 if this sequence number was already applied.
  A re-sent batch that had gone through still refreshes the state key: that write makes a WAIT
  after the re-send (lib/producer/producer.ts, waitReplicas) wait until this node's replicas have the batch.
]]
local seq = tonumber(ARGV[1])
local recorded = redis.call('GET', KEYS[2])
local last = tonumber(recorded or '0')
if seq <= last then
  redis.call('SET', KEYS[2], recorded, 'PX', ARGV[2])
  return 0
end
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  redis.call('XADD', KEYS[1], '*', 'k', ARGV[4 + 2 * i], 'e', ARGV[5 + 2 * i])
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return n
