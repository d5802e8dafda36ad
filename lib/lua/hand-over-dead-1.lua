--[[
  Make the pending entries of a consumer whose process is known to be dead claimable at once:
  each one's idle time is set to the group's claim limit (XCLAIM to the same consumer, IDLE,
  JUSTID), so the next reclaimer pass of any consumer of the group takes it through claim-3.lua,
  which replaces the claim fence (a hand-off of the dead consumer that lands late then checks each
  message). The owner does not change here, so the fence need not either; JUSTID counts no
  delivery, so each entry keeps its count, and the reclaimer counts one when it runs it
  (take-claimed-1.lua): a kill is a delivery, as when the entry is reclaimed after the limit.

  Only entries idle at least ARGV[3] ms are touched. From the supervisor (lib/ops/dead-handover.ts):
  the time since the process was seen to exit; the dead process cannot have touched its entries
  since, so every one of them qualifies, while an entry read under the same name afterwards (a new
  process given the same pid) is left alone. From a reclaimer (lib/worker/liveness-handover.ts), for
  a consumer whose alive key lapsed: its TTL (`aliveTtlMs`), so an entry read since a process under
  that name came back (it beats first) is left alone.

  KEYS[1]  stream
  ARGV[1]  group
  ARGV[2]  the dead consumer
  ARGV[3]  minimum idle time in ms (time since the exit was seen)
  ARGV[4]  idle time to give the entries, ms (the stage's claimMinIdleMs)
  ARGV[5]  COUNT: entries per call
  ARGV[6]  start of the range: '-' at first, then the returned cursor

  Returns: { entries made claimable, cursor for the next call ('' when none is left) }
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[6], '+', ARGV[5], ARGV[2])
if #pending == 0 then return { 0, '' } end
local args = { 'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0 }
for _, p in ipairs(pending) do args[#args + 1] = p[1] end
args[#args + 1] = 'IDLE'
args[#args + 1] = ARGV[4]
args[#args + 1] = 'JUSTID'
-- An entry whose data was trimmed away meanwhile is dropped from the pending list by XCLAIM, as by XAUTOCLAIM.
local claimed = redis.call(unpack(args))
local cursor = ''
if #pending >= tonumber(ARGV[5]) then cursor = '(' .. pending[#pending][1] end
return { #claimed, cursor }
