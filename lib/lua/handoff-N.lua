--[=[
  Hand off a batch atomically: for each message, XACK it on the source stream and, only if that
  XACK removed it from the group's pending list, XADD its result to each of its target streams.
  A message that two consumers both processed (one reclaimed it from the other) is forwarded once:
  the second XACK returns 0 and its XADDs are skipped. Trimming is separate (retention.ts), so it
  never removes entries a group has not acked.

  Each message's values are plain arguments, and its shape (how many values, which targets) is
  one byte string for the whole batch. Measured on Redis 7.0 (npm run bench:handoff), this costs
  Redis less than one packed msgpack argument (one large Lua string plus cmsgpack decoding) or
  field names repeated per message.

  KEYS[1]      source stream
  KEYS[2..N]   target streams (N varies per call, at most 255; messages name them by index)
  ARGV[1]      consumer group
  ARGV[2]      layout, per message in order: byte F, byte T, then T bytes of KEYS indexes.
               F = 255: the usual entry, 2 values follow (record key, envelope) written as the
               fields k and e; F < 255: F values follow, field/value pairs written as they are.
               T = 0 only acks.
  ARGV[3..]    per message: entry id, then its values (2 or F of them)

  Returns: an array of M integers, 1 = acked and forwarded here, 0 = already acked elsewhere.
]=]
local src, group, layout = KEYS[1], ARGV[1], ARGV[2]
local byte = string.byte
local result = {}
local a, p, len = 3, 1, #layout
while p <= len do
  local nf, nt = byte(layout, p, p + 1)
  local acked = redis.call('XACK', src, group, ARGV[a])
  if nf == 255 then
    if acked == 1 then
      for t = p + 2, p + 1 + nt do
        redis.call('XADD', KEYS[byte(layout, t)], '*', 'k', ARGV[a + 1], 'e', ARGV[a + 2])
      end
    end
    a = a + 3
  else
    if acked == 1 then
      for t = p + 2, p + 1 + nt do
        redis.call('XADD', KEYS[byte(layout, t)], '*', unpack(ARGV, a + 1, a + nf))
      end
    end
    a = a + 1 + nf
  end
  result[#result + 1] = acked
  p = p + 2 + nt
end
return result
