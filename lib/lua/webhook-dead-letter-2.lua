--[[
  A webhook delivery given up on (lib/webhooks/reader.ts): acked in its group and added to the
  webhook dead-letter stream in one step, only when the ack took it off the group's pending list. A
  call sent again after its connection dropped (ioredis re-sends what was not answered) finds the
  entry acked and adds nothing, and one that another process acked meanwhile (it claimed the entry
  and delivered it) is not dead-lettered here. An entry trimmed from the stream while in retry is
  no longer pending (XCLAIM dropped it from the group) and is dead-lettered all the same (ARGV[4]).

  KEYS[1]  the completion stream ({p}:done, or a shard's {p:N}:done)
  KEYS[2]  the webhook dead-letter stream on the same slot ({p}:webhooks:dlq, {p:N}:webhooks:dlq)
  ARGV[1]  the webhook's group (webhook:<name>)
  ARGV[2]  the entry id
  ARGV[3]  MAXLEN ~ of the dead-letter stream
  ARGV[4]  "1" when the entry was trimmed while in retry (dead-lettered though not pending), else ""
  ARGV[5..] the dead letter's field/value pairs

  Returns: the dead letter's entry id; or false when the entry was not pending (acked already) and not trimmed.
]]
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 and ARGV[4] ~= '1' then
  return false
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))
