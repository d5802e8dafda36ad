--[[
  The store stage of a sink other than Redis (postgres), after the sink committed a version of a
  product: delete the product's `pipeline reprocess` marker once a version at or after the
  marker's origin is stored (an origin-less marker: once another store entry than the one it was
  built from is), as upsert-product-5.lua does within the Redis sink's upsert.

  KEYS[1]  the product's marker hash ({p}:reprocess:<key>)
  ARGV[1]  the stored version ("ms-seq", or "" when unknown)
  ARGV[2]  the store-stream entry that carried it

  Returns: 1 if the marker was deleted, else 0.
]]
local marker = redis.call('HMGET', KEYS[1], 'origin', 'from')
if not marker[2] then return 0 end
local done = false
if not marker[1] or marker[1] == '' then
  done = marker[2] ~= ARGV[2]
else
  done = stream_id_at_or_after(ARGV[1], marker[1]) -- lib/lua/shared/stream-ids.lua
end
if done then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
