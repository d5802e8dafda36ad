--[[
  A consumer's beat (lib/worker/watchdog.ts), every `watchdogIntervalMs`: its "process alive" key
  (SET PX `aliveTtlMs`), written on every beat whatever its read loop does; its registration (SET with a
  longer TTL): the record that this consumer keeps an alive key, so a sibling that finds the alive
  key gone while the registration stays knows the process stopped (killed, or its event loop
  blocked past `aliveTtlMs`) and hands its pending entries over (lib/worker/liveness-handover.ts);
  a consumer that never wrote one (an older release) has no registration and keeps waiting out
  `claimMinIdleMs`. And, only while its read loop makes progress, its liveness marker (the stall
  marker `pipeline health` reads), with a TTL that runs out `blockMs + stallTimeoutMs` after the
  last progress.
  A function flagged allow-oom (lib/redis/functions.ts): a worker waiting out a full Redis
  (maxmemory, noeviction) is healthy, but a plain SET was refused with OOM there, the marker expired
  and `pipeline health` (the startup/liveness probes) reported the worker dead. Three small keys per
  consumer, rewritten in place; they never grow the data the pipeline keeps.

  KEYS[1]  liveness marker ({p}:liveness:<stage>:<consumer>)
  KEYS[2]  registration ({p}:liveness:<stage>:<consumer>:registered)
  KEYS[3]  alive key ({p}:liveness:<stage>:<consumer>:alive)
  ARGV[1]  the marker's record (JSON)
  ARGV[2]  the marker's TTL in ms; '' or 0: the loop is stalled, the marker is left to expire
  ARGV[3]  the registration's TTL in ms
  ARGV[4]  the alive key's TTL in ms

  Returns: "OK".
]]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) end
return 'OK'
