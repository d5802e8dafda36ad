--[[
  Take up to ARGV[3] tokens from a stage's token bucket (its `rateLimit`: ARGV[1] records per
  ARGV[2] ms across all its workers; lib/worker/rate-gate.ts), before a consumer reads: it reads
  at most what was granted, so what is not granted stays unread in the stream. The bucket holds
  at most ARGV[1] tokens (the largest burst after an idle spell) and refills at ARGV[1] per ARGV[2]
  ms, by the server's clock (TIME: every worker, whatever its host's clock, sees one time). A key
  that is gone (never written, or idle past its TTL of twice the window) is a full bucket.
  Flagged allow-oom (lib/redis/functions.ts): one small hash rewritten in place.

  KEYS[1]  the bucket ({p}:ratelimit:<stage>): hash t (tokens, may be fractional), ts (ms), n
           (tokens used in all: granted minus returned, so the autoscaler, lib/ops/rate-bound.ts,
           reads how fast the stage takes them without taking any; gone with the key, from 0 again)
  ARGV[1]  records: the bucket's size and refill per window (integer >= 1)
  ARGV[2]  perMs: the window in ms (integer >= 1)
  ARGV[3]  wanted: how many records the consumer would read (its batch size)
  ARGV[4]  returned: tokens this consumer took before and did not use (a read that delivered
           fewer entries than granted), put back first, the bucket still capped at its size

  Returns {granted, waitMs}: granted = min(wanted, whole tokens available); waitMs = how long until
  the rest (wanted - granted, at most the bucket's size) is available at the refill rate (0 when
  all was granted).
]]
local size = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local returned = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = size / per
local tokens = size
local cur = redis.call('HMGET', KEYS[1], 't', 'ts', 'n')
if cur[1] and cur[2] then
  local elapsed = math.max(0, now - tonumber(cur[2]))
  tokens = math.min(size, tonumber(cur[1]) + elapsed * rate)
end
tokens = math.min(size, tokens + math.max(0, returned))
-- 1e-9: a refill of exactly one token must not read as 0.9999999 after float arithmetic
local granted = math.min(wanted, math.floor(tokens + 1e-9))
tokens = math.max(0, tokens - granted)
local rest = math.min(wanted - granted, size)
local wait = 0
if rest > tokens then wait = math.ceil((rest - tokens) / rate) end
local used = math.max(0, (tonumber(cur[3]) or 0) + granted - math.max(0, returned))
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now, 'n', used)
redis.call('PEXPIRE', KEYS[1], per * 2)
return {granted, wait}
