--[[
  Apply one review decision in one step: ack the review entry in the console's group, put the
  corrected envelope on the stage stream(s) the routing table chose, keep the decision as a
  label, and record it as the product's latest decision. A decision that lost a race (another
  reviewer acked the entry first) changes nothing, so a product is never sent back twice for one
  review item. An item of a product decided since the record it shows (its origin older than the
  latest decision's version: another item of the same product) is closed (acked) and not applied,
  so it cannot overwrite that decision with what it showed. A decision applied closes (acks) the
  product's other listed items of records not newer than it (its open-items hash, written as the
  console lists items: review-listed-N.lua) in the same step, so they leave the list with it.
  The latest decision keeps the call's token (ARGV[10]) and what it answered: a call sent again
  after its connection dropped (ioredis re-sends what was not answered) is answered as the first.

  KEYS[1]   review stream ({p}:review)
  KEYS[2]   labels stream ({p}:labels)
  KEYS[3]   the product's latest decision ({p}:reviewed:<key>: origin, entry, by, at)
  KEYS[4]   the product's open review items ({p}:console:review-open:<key>: entry id -> origin)
  KEYS[5]   listed items' products ({p}:console:review-listed: entry id -> product key), emptied with KEYS[4]
  KEYS[6..] target stage streams ({p}:extract.electronics, ...)
  ARGV[1]   the console's group on the review stream
  ARGV[2]   review entry id
  ARGV[3]   record key (field k)
  ARGV[4]   corrected envelope (field e, msgpack)
  ARGV[5]   label JSON (field label)
  ARGV[6]   the item's origin ("ms-seq", "" when its envelope has none)
  ARGV[7]   the decision's version (the corrected envelope's origin)
  ARGV[8]   reviewer
  ARGV[9]   now (ms)
  ARGV[10]  this call's token ("" when the caller has none)

  Returns: {1, {new entry id per target}, {entry ids of the other items closed}}; {2, version, entry, by, at} when the item was closed as
  superseded by that decision ({4, ...} the same when it was closed already, e.g. with that
  decision, which closes the product's listed items); {3, version} when a decision of the product with a version not
  older than ARGV[7] came in between (nothing written: the caller computes its version again);
  0 when the entry was not pending in the group (decided already, or never read by the console).
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.

local last = redis.call('HMGET', KEYS[3], 'origin', 'entry', 'by', 'at', 'token', 'sent', 'closed')
if ARGV[10] and ARGV[10] ~= '' and last[5] == ARGV[10] then
  local function ids(s)
    local t = {}
    for v in string.gmatch(s or '', '[^,]+') do t[#t + 1] = v end
    return t
  end
  return {1, ids(last[6]), ids(last[7])}
end
if stream_id_older(ARGV[6], last[1]) then
  redis.call('HDEL', KEYS[4], ARGV[2])
  redis.call('HDEL', KEYS[5], ARGV[2])
  local code = 2
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then code = 4 end
  return {code, last[1], last[2] or '', last[3] or '', last[4] or ''}
end
if stream_id(last[1]) and not stream_id_older(last[1], ARGV[7]) then return {3, last[1]} end
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local sent = {}
for i = 6, #KEYS do
  sent[#sent + 1] = redis.call('XADD', KEYS[i], '*', 'k', ARGV[3], 'e', ARGV[4])
end
redis.call('XADD', KEYS[2], '*', 'label', ARGV[5])
redis.call('HSET', KEYS[3], 'origin', ARGV[7], 'entry', ARGV[2], 'by', ARGV[8], 'at', ARGV[9])
-- The product's other listed items of records this decision covers: closed with it.
local closed = {}
local open = redis.call('HGETALL', KEYS[4])
for i = 1, #open, 2 do
  if stream_id(open[i + 1]) and not stream_id_older(ARGV[7], open[i + 1]) then
    redis.call('HDEL', KEYS[4], open[i])
    redis.call('HDEL', KEYS[5], open[i])
    if redis.call('XACK', KEYS[1], ARGV[1], open[i]) == 1 then closed[#closed + 1] = open[i] end
  end
end
redis.call('HSET', KEYS[3], 'token', ARGV[10] or '', 'sent', table.concat(sent, ','), 'closed', table.concat(closed, ','))
return {1, sent, closed}
