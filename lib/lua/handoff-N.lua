--[[
  Hand off a batch atomically: for each message, XACK it on the source stream and, only if that
  XACK removed it from the group's pending list, XADD its result to each of its target streams.
  A message that two consumers both processed (one reclaimed it from the other) is forwarded once:
  the second XACK returns 0 and its XADDs are skipped.

  KEYS[1]      source stream
  KEYS[2..N]   target streams (N varies per call; messages refer to them by index into KEYS)
  ARGV[1]      consumer group
  ARGV[2]      number of messages M
  then M groups of:
               entry id, number of targets T, T key indexes, number of fields F, F field/value pairs
               (the fields form the new entry; T = 0 only acks). Trimming is separate (retention.ts) so it never
  removes entries a group has not acked.

  Returns: an array of M integers, 1 = acked and forwarded here, 0 = already acked elsewhere.
]]
local group = ARGV[1]
local m = tonumber(ARGV[2])
local result = {}
local i = 3
for n = 1, m do
  local id = ARGV[i]
  local t = tonumber(ARGV[i + 1])
  local targetsAt = i + 2
  local f = tonumber(ARGV[targetsAt + t])
  local fieldsAt = targetsAt + t + 1
  local acked = redis.call('XACK', KEYS[1], group, id)
  if acked == 1 and t > 0 then
    if f == 2 then
      -- The usual entry (k, e): pass the arguments straight through, no table to build and unpack.
      local f1, v1, f2, v2 = ARGV[fieldsAt], ARGV[fieldsAt + 1], ARGV[fieldsAt + 2], ARGV[fieldsAt + 3]
      for k = 0, t - 1 do
        redis.call('XADD', KEYS[tonumber(ARGV[targetsAt + k])], '*', f1, v1, f2, v2)
      end
    else
      local fields = {}
      for j = 0, 2 * f - 1 do fields[#fields + 1] = ARGV[fieldsAt + j] end
      for k = 0, t - 1 do
        redis.call('XADD', KEYS[tonumber(ARGV[targetsAt + k])], '*', unpack(fields))
      end
    end
  end
  result[n] = acked
  i = fieldsAt + 2 * f
end
return result
