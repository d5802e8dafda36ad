--[[
  Add one producer batch to the input stream exactly once. A producer run counts the records it
  has read for this stream, and this script keeps, in the same step as the XADDs, how many of them
  are in the stream and a fingerprint of those records (a hash of their lines): when the
  connection drops before the reply, the same batch can be sent again (by the client's resend or
  by the producer) and what had gone through is skipped. A run resumed after a crash (the same
  run id) reads the state first, skips that many records of its input and checks the fingerprint
  (lib/producer/producer.ts). With the AOF on, the state and the entries are persisted together.

  KEYS[1]  input stream              ({p}:in)
  KEYS[2]  this run's state key      ({p}:in:producer:<run id>), value "<count> <fingerprint>"
  ARGV[1]  start: how many of the run's records for this stream come before this batch
  ARGV[2]  the fingerprint of the run's records up to the end of this batch
  ARGV[3]  state key TTL in ms (renewed on every batch)
  ARGV[4]  number of entries N
  ARGV[5..4+2N]  N pairs: record key, msgpack envelope

  Returns { added, count }: how many entries this call added (0: the whole batch had gone
  through; fewer than N: a producer of the same run with another batch size had added the first
  ones), and the state's count before the call. added = -1: a gap, nothing written: the state
  counts fewer records than come before this batch, so records this run had added are not here
  (Redis restarted without persistence, a failover lost writes, or the state expired).
  A re-sent batch that had gone through still refreshes the state key: that write makes a WAIT
  after the re-send (lib/producer/producer.ts, waitReplicas) wait until this node's replicas have the batch.
]]
local start, n = tonumber(ARGV[1]), tonumber(ARGV[4])
local recorded = redis.call('GET', KEYS[2])
local count = 0
if recorded then count = tonumber(string.match(recorded, '^(%d+) ')) or 0 end
if start + n <= count then
  redis.call('SET', KEYS[2], recorded, 'PX', ARGV[3])
  return { 0, count }
end
if start > count then return { -1, count } end
for i = count - start, n - 1 do
  redis.call('XADD', KEYS[1], '*', 'k', ARGV[5 + 2 * i], 'e', ARGV[6 + 2 * i])
end
redis.call('SET', KEYS[2], (start + n) .. ' ' .. ARGV[2], 'PX', ARGV[3])
return { start + n - count, count }
