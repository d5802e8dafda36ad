--[[
  Claim entries idle past a limit from any consumer of the group (XAUTOCLAIM) and, when any was
  claimed, set the group's claim fence to a new value in the same step. A consumer whose batch was
  read after it last saw the fence, and who finds the fence unchanged at hand-off, knows that none
  of its entries changed owner in between (handoff-N.lua takes its one-XACK path then).

  The new value is a token never used before (the caller's random one), not a counter: a failover
  or a restart that lost a claim's write takes the fence back to an older value, and a counter
  would then reach again a value a consumer saw before the loss, letting it take the one-XACK path
  for entries that changed owner. A token that was lost is never current again.

  A call with a memory TTL (ARGV[8]) keeps its reply in the claiming consumer's claim memory
  (KEYS[3]) when it claimed anything or dropped trimmed entries: the same call sent again (ioredis
  re-sends a command whose reply was lost with its connection; the token says it is the same) is
  answered as the first was, instead of claiming nothing (the first call had reset the entries'
  idle time) and leaving them to wait out `claimMinIdleMs` again with a consumer that never ran them.

  KEYS[1]  stream
  KEYS[2]  the group's claim fence ({p}:fence:<group>)
  KEYS[3]  the claiming consumer's claim memory ({p}:liveness:<group>:<consumer>:claim); untouched
           without ARGV[8] (callers that keep none pass the fence key again)
  ARGV[1]  group
  ARGV[2]  claiming consumer
  ARGV[3]  minimum idle time in ms
  ARGV[4]  start id (the cursor of the previous call, 0-0 at first)
  ARGV[5]  COUNT
  ARGV[6]  the fence's new value if anything is claimed: unique per call (lib/worker/reclaimer.ts).
           Absent or '': the server's TIME, microseconds (unique per server; a clock set back could repeat one).
  ARGV[7]  'JUSTID': claim the ids only, without counting a delivery (the reclaimer does, and
           counts each one when it runs it: take-claimed-1.lua); absent or '': whole entries
  ARGV[8]  optional: the claim memory's TTL in ms (needs a token in ARGV[6]); absent or '': none

  Returns: the XAUTOCLAIM reply unchanged: { next cursor, claimed entries (or ids), deleted ids };
  the same call sent again: the first call's reply, nothing claimed again.
]]
local token, ttl = ARGV[6], ARGV[8]
local remember = token and token ~= '' and ttl and ttl ~= ''
if remember then
  local last = redis.call('GET', KEYS[3])
  if last and string.sub(last, 1, #token + 1) == token .. '\0' then return cmsgpack.unpack(string.sub(last, #token + 2)) end
end
local reply
if ARGV[7] == 'JUSTID' then
  reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'JUSTID')
else
  reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
end
if #reply[2] > 0 then
  if not token or token == '' then
    local t = redis.call('TIME')
    token = 't' .. t[1] .. '.' .. t[2]
  end
  redis.call('SET', KEYS[2], token)
end
-- Kept only when the call did something a re-send could not repeat: a pass that found nothing writes nothing.
if remember and (#reply[2] > 0 or #(reply[3] or {}) > 0) then
  redis.call('SET', KEYS[3], token .. '\0' .. cmsgpack.pack(reply), 'PX', ttl)
end
return reply
