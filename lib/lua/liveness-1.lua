--[[
  Refresh a consumer's liveness marker (lib/worker/watchdog.ts): SET with a TTL. A function flagged
  allow-oom (lib/redis/functions.ts): a worker waiting out a full Redis (maxmemory, noeviction) is
  healthy, but a plain SET was refused with OOM there, the marker expired and `pipeline health`
  (the startup/liveness probes) reported the worker dead. One small key per consumer, rewritten in
  place; it never grows the data the pipeline keeps.

  KEYS[1]  liveness key ({p}:liveness:<stage>:<consumer>)
  ARGV[1]  the record (JSON)
  ARGV[2]  TTL in ms

  Returns: "OK".
]]
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
