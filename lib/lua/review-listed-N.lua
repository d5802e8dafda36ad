--[[
  Record the review items a console page lists, and close those a decision has superseded, in one
  step with the decisions (review-decide-N.lua): an item whose record (origin) is older than its
  product's latest decision is acked from the console's group instead of listed (its product was
  decided through another item, maybe one this page had not delivered yet); every other item is
  kept in its product's open-items hash, which the product's next decision closes at once.
  KEYS[3] keeps the last call's token and the items it closed: a call sent again after its
  connection dropped (ioredis re-sends what was not answered) answers the items the first call
  closed as closed, not as gone.

  KEYS[1]        review stream ({p}:review)
  KEYS[2]        listed items' products ({p}:console:review-listed: entry id -> product key), kept
                 with the open-items hashes, so an item acknowledged as trimmed finds its product's
  KEYS[3]        the last call's record ({p}:console:review-listed-call, hash: call, closed)
  KEYS[2i+2]     item i's product's latest decision ({p}:reviewed:<key>)
  KEYS[2i+3]     item i's product's open items ({p}:console:review-open:<key>)
  ARGV[1]        the console's group
  ARGV[2]        this call's token
  ARGV[3i]       item i's entry id
  ARGV[3i+1]     item i's origin ("ms-seq", "" when its envelope has none)
  ARGV[3i+2]     item i's product key

  Returns: one reply per item: 1 listed; 0 not pending any more (decided meanwhile: not listed);
  {version, entry, by, at} closed as superseded by that decision.
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.

local closedBefore = {}
local prev = redis.call('HMGET', KEYS[3], 'call', 'closed')
if prev[1] == ARGV[2] then
  for id in string.gmatch(prev[2] or '', '[^,]+') do closedBefore[id] = true end
end
local out, closed = {}, {}
for i = 1, (#KEYS - 3) / 2 do
  local reviewed, open = KEYS[2 * i + 2], KEYS[2 * i + 3]
  local id, origin, key = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  local last = redis.call('HMGET', reviewed, 'origin', 'entry', 'by', 'at')
  if stream_id_older(origin, last[1]) then
    redis.call('HDEL', open, id)
    redis.call('HDEL', KEYS[2], id)
    if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 or closedBefore[id] then
      out[i] = {last[1], last[2] or '', last[3] or '', last[4] or ''}
      closed[#closed + 1] = id
    else
      out[i] = 0
    end
  elseif #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1) == 0 then
    redis.call('HDEL', open, id)
    redis.call('HDEL', KEYS[2], id)
    out[i] = 0
  else
    redis.call('HSET', open, id, origin)
    redis.call('HSET', KEYS[2], id, key)
    out[i] = 1
  end
end
redis.call('HSET', KEYS[3], 'call', ARGV[2], 'closed', table.concat(closed, ','))
return out
