--[=[
  Hand off a batch atomically: for each message, XACK it on the source stream and, only if that
  XACK removed it from the group's pending list, XADD its result to each of its target streams.
  A message that two consumers both processed (one reclaimed it from the other) is forwarded once:
  the second XACK returns 0 and its XADDs are skipped. Trimming is separate (retention.ts), so it
  never removes entries a group has not acked.

  The batch comes as one msgpack argument (built by packForwards in handoff.ts) rather than ~8
  arguments per message: the client builds one buffer instead of hundreds of RESP arguments.
  Strings only (str headers): Lua's cmsgpack has no bin type, and Lua strings are binary-safe.

  KEYS[1]      source stream
  KEYS[2..N]   target streams (N varies per call; messages refer to them by index into KEYS)
  ARGV[1]      consumer group
  ARGV[2]      msgpack array of M messages, each [entry id, [key indexes], [field, value, ...]]
               (an empty key list only acks)

  Returns: an array of M integers, 1 = acked and forwarded here, 0 = already acked elsewhere.
]=]
local group = ARGV[1]
local batch = cmsgpack.unpack(ARGV[2])
local result = {}
for n = 1, #batch do
  local m = batch[n]
  local acked = redis.call('XACK', KEYS[1], group, m[1])
  if acked == 1 then
    local targets, f = m[2], m[3]
    for k = 1, #targets do
      if #f == 4 then
        -- The usual entry (k, e): no unpack of a table per XADD.
        redis.call('XADD', KEYS[targets[k]], '*', f[1], f[2], f[3], f[4])
      else
        redis.call('XADD', KEYS[targets[k]], '*', unpack(f))
      end
    end
  end
  result[n] = acked
end
return result
