--[[
  Upsert one product into the Redis store, idempotently: re-delivering the same store-stream entry
  changes nothing but the document, and `copies` counts distinct stream entries that wrote this
  key (more than 1 means the same product reached the store more than once).

  KEYS[1]  product hash           ({p}:product:<key>)
  KEYS[2]  set of all product keys ({p}:products)
  KEYS[3]  category index set     ({p}:category:<category>)
  ARGV[1]  product key
  ARGV[2]  store-stream entry id that carries this version
  ARGV[3]  category
  ARGV[4]  category set key prefix ({p}:category:), to drop the key from its old category's set
           (same hash tag, so the same slot on a cluster)
  ARGV[5..] field/value pairs for the hash

  Returns: 1 if this entry was new for the product, 0 if it was a re-delivery.
]]
local old = redis.call('HMGET', KEYS[1], 'category', 'entry')
local fresh = 0
if old[2] ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[1], 'copies', 1)
  fresh = 1
end
if old[1] and old[1] ~= ARGV[3] then
  redis.call('SREM', ARGV[4] .. old[1], ARGV[1])
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'entry', ARGV[2], 'category', ARGV[3], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return fresh
