--[=[
  Hand off a batch atomically: ack each message on the source stream and add its result to each
  of its target streams, forwarding only messages whose ack removed them from the group's pending
  list. A message that two consumers both processed (one reclaimed it from the other) is
  forwarded once, and so is a call the client sent again after losing its reply.

  A call with an id (ARGV[4]) keeps its reply in the consumer's hand-off memory (KEYS[3]), one
  small key per consumer, rewritten by each of its hand-offs (a consumer hands off one batch at a
  time): the same call sent again (ioredis re-sends a command whose reply was lost with its
  connection) is answered as the first one was, instead of as a batch another consumer acked.

  Two ways to know which messages were still pending:
  - checked: XACK each message alone, XADD only where it returned 1.
  - fenced, when ARGV[2] equals the group's claim fence (KEYS[2]): the caller read this batch
    after seeing that fence value, and every claim of entries from another consumer increments
    it (claim-3.lua), so nothing in the batch changed owner since it was delivered. One XACK
    for all of them then: if it acks any, all were pending and all are forwarded; if it acks
    none, this call had gone through before (a re-send) and nothing is forwarded again.
  - checked and bumped, when ARGV[2] is "!" and a token: the batch's read may have been lost
    with a failed-over master, so another consumer may have been given the same entries afresh
    (no claim moved the fence) and may hold them under a fence value it saw before. Checked as
    above, and when anything was acked the fence is set to the token in the same step: that
    other consumer's hand-off then takes the checked path too, and forwards only what it still
    holds, instead of acking its own entries with one XACK and forwarding these again.

  Each message's values are plain arguments, and its shape (how many values, which targets) is
  one byte string for the whole batch: measured on Redis 7.0 (npm run bench:handoff), this costs
  Redis less than one packed msgpack argument or field names repeated per message.

  KEYS[1]      source stream
  KEYS[2]      the group's claim fence ({p}:fence:<group>)
  KEYS[3]      the consumer's hand-off memory ({p}:liveness:<group>:<consumer>:handoff); unused
               (the fence key again) without a call id
  KEYS[4..N]   target streams (N varies per call, at most 255; messages name them by index)
  ARGV[1]      consumer group
  ARGV[2]      the fence value the batch was read under, "" to check every message, or "!<token>"
               to check every message and, if any was acked, set the fence to <token> (unique per
               call: lib/worker/reclaimer.ts fenceToken)
  ARGV[3]      layout, per message in order: byte F, byte T, then T bytes of KEYS indexes.
               F = 255: the usual entry, 2 values follow (record key, envelope) written as the
               fields k and e; F < 255: F values follow, field/value pairs written as they are.
               T = 0 only acks.
  ARGV[4]      this call's id (unique per call: lib/stream/handoff.ts), "" to keep no memory
  ARGV[5]      the memory's TTL in ms
  ARGV[6..]    per message: entry id, then its values (2 or F of them)

  Every check that can fail comes before the first write, because Redis does not roll a script
  back: an XADD refused after the XACK would leave an entry acked and never forwarded. Each target
  must be a stream (or not exist yet) and writable by the calling ACL user (redis.acl_check_cmd,
  Redis >= 7.0). Past these checks, XACK and XADD cannot fail on a key (OOM does not stop a script
  that has written: Redis lets it finish).

  Returns: { fence, acked, odd }: the fence's current value ("0" before any claim; the token when
  this call set it); one character
  per message, "1" = acked and forwarded by this call, "0" = already acked, not forwarded; and,
  on the fenced path, how many messages were not pending although the fence said they were
  (only an operator's XACK or XGROUP SETID does that; they were forwarded anyway).
  Or, when a target fails a check, nothing written: { fence, "", 0, KEYS index, "WRONGTYPE" | "NOPERM" }.
  The same call sent again: the first call's reply, nothing written.
]=]
local src, group, expected, layout, call = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local byte = string.byte
local len = #layout

-- The memory: call id, fence, odd and the per-message flags, "\0"-separated.
if call ~= '' then
  local last = redis.call('GET', KEYS[3])
  if last and string.sub(last, 1, #call + 1) == call .. '\0' then
    local seen, odd, flags = string.match(last, '^[^%z]*%z([^%z]*)%z([^%z]*)%z(.*)$')
    return { seen, flags, tonumber(odd) }
  end
end
local function answer(fence, flags, odd)
  if call ~= '' then redis.call('SET', KEYS[3], call .. '\0' .. fence .. '\0' .. odd .. '\0' .. flags, 'PX', ARGV[5]) end
  return { fence, flags, odd }
end

local fence = redis.call('GET', KEYS[2]) or '0'

local check = redis.acl_check_cmd
for k = 4, #KEYS do
  if check and not check('XADD', KEYS[k], '*', 'k', 'e') then return { fence, '', 0, k, 'NOPERM' } end
  -- (An ACL user from before TYPE was granted skips the type check rather than stall the stage.)
  if not check or check('TYPE', KEYS[k]) then
    local t = redis.call('TYPE', KEYS[k])['ok']
    if t ~= 'stream' and t ~= 'none' then return { fence, '', 0, k, 'WRONGTYPE' } end
  end
end

-- Call add(a, p, nf, nt) for each message: a = index of its id in ARGV, p = its layout offset.
local function each(add)
  local a, p, n = 6, 1, 0
  while p <= len do
    local nf, nt = byte(layout, p, p + 1)
    n = n + 1
    add(n, a, p, nf, nt)
    if nf == 255 then a = a + 3 else a = a + 1 + nf end
    p = p + 2 + nt
  end
  return n
end

local function forward(a, p, nf, nt)
  for t = p + 2, p + 1 + nt do
    if nf == 255 then
      redis.call('XADD', KEYS[byte(layout, t)], '*', 'k', ARGV[a + 1], 'e', ARGV[a + 2])
    else
      redis.call('XADD', KEYS[byte(layout, t)], '*', unpack(ARGV, a + 1, a + nf))
    end
  end
end

if expected ~= '' and expected == fence then
  local ids = {}
  local n = each(function(_, a) ids[#ids + 1] = ARGV[a] end)
  local acked = 0
  for i = 1, n, 1000 do -- unpack in slices: Lua's C stack holds about 8000 values
    acked = acked + redis.call('XACK', src, group, unpack(ids, i, math.min(i + 999, n)))
  end
  if acked == 0 then return answer(fence, string.rep('0', n), 0) end
  each(function(_, a, p, nf, nt) forward(a, p, nf, nt) end)
  return answer(fence, string.rep('1', n), n - acked)
end

local result, any = {}, false
each(function(n, a, p, nf, nt)
  local acked = redis.call('XACK', src, group, ARGV[a])
  if acked == 1 then
    forward(a, p, nf, nt)
    any = true
  end
  result[n] = acked
end)
if any and string.sub(expected, 1, 1) == '!' and #expected > 1 then
  fence = string.sub(expected, 2)
  redis.call('SET', KEYS[2], fence)
end
return answer(fence, table.concat(result), 0)
