--[[
  Apply one review decision in one step: ack the review entry in the console's group, put the
  corrected envelope on the stage stream(s) the routing table chose, keep the decision as a
  label, and record it as the product's latest decision. A decision that lost a race (another
  reviewer acked the entry first) changes nothing, so a product is never sent back twice for one
  review item. An item of a product decided since the record it shows (its origin older than the
  latest decision's version: another item of the same product) is closed (acked) and not applied,
  so it cannot overwrite that decision with what it showed.

  KEYS[1]   review stream ({p}:review)
  KEYS[2]   labels stream ({p}:labels)
  KEYS[3]   the product's latest decision ({p}:reviewed:<key>: origin, entry, by, at)
  KEYS[4..] target stage streams ({p}:extract.electronics, ...)
  ARGV[1]   the console's group on the review stream
  ARGV[2]   review entry id
  ARGV[3]   record key (field k)
  ARGV[4]   corrected envelope (field e, msgpack)
  ARGV[5]   label JSON (field label)
  ARGV[6]   the item's origin ("ms-seq", "" when its envelope has none)
  ARGV[7]   the decision's version (the corrected envelope's origin)
  ARGV[8]   reviewer
  ARGV[9]   now (ms)

  Returns: {1, new entry id per target}; {2, version, entry, by, at} when the item was closed as
  superseded by that decision; {3, version} when a decision of the product with a version not
  older than ARGV[7] came in between (nothing written: the caller computes its version again);
  0 when the entry was not pending in the group (decided already, or never read by the console).
]]
local function parse(v)
  if not v or v == '' then return nil end
  local ms, seq = string.match(v, '^(%d+)-(%d+)$')
  if not ms then return nil end
  return tonumber(ms), tonumber(seq)
end
-- a < b as stream ids; false when either is not one.
local function older(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  if not ams or not bms then return false end
  return ams < bms or (ams == bms and aseq < bseq)
end

local last = redis.call('HMGET', KEYS[3], 'origin', 'entry', 'by', 'at')
if older(ARGV[6], last[1]) then
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
  return {2, last[1], last[2] or '', last[3] or '', last[4] or ''}
end
if parse(last[1]) and not older(last[1], ARGV[7]) then return {3, last[1]} end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local out = {1}
for i = 4, #KEYS do
  out[#out + 1] = redis.call('XADD', KEYS[i], '*', 'k', ARGV[3], 'e', ARGV[4])
end
redis.call('XADD', KEYS[2], '*', 'label', ARGV[5])
redis.call('HSET', KEYS[3], 'origin', ARGV[7], 'entry', ARGV[2], 'by', ARGV[8], 'at', ARGV[9])
return out
