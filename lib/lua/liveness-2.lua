--[[
  Refresh a consumer's liveness marker (lib/worker/watchdog.ts): SET with a TTL, and its
  registration (SET with a longer TTL): the record that this consumer keeps a marker, so a sibling
  that finds the marker gone while the registration stays knows the consumer stopped beating, and
  hands its pending entries over (lib/worker/liveness-handover.ts); a consumer that never wrote a
  marker (an older release) has no registration and keeps waiting out `claimMinIdleMs`.
  A function flagged allow-oom (lib/redis/functions.ts): a worker waiting out a full Redis
  (maxmemory, noeviction) is healthy, but a plain SET was refused with OOM there, the marker expired
  and `pipeline health` (the startup/liveness probes) reported the worker dead. Two small keys per
  consumer, rewritten in place; they never grow the data the pipeline keeps.

  KEYS[1]  liveness key ({p}:liveness:<stage>:<consumer>)
  KEYS[2]  registration key ({p}:liveness:<stage>:<consumer>:registered)
  ARGV[1]  the record (JSON)
  ARGV[2]  TTL in ms
  ARGV[3]  the registration's TTL in ms

  Returns: "OK".
]]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
