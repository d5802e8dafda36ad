--[[
  Store a product's vector and log its key for the other match workers, only when the vector is
  new or changed: reprocessing the same product with the same vector (a replay, a re-produce, a
  retry) neither grows the log nor makes other workers reload it.

  KEYS[1]  vectors hash of the category  ({p}:vectors:<category>)
  KEYS[2]  key log of the category       ({p}:vectors:<category>:log)
  ARGV[1]  product key
  ARGV[2]  vector bytes (little-endian float32)

  Returns: 1 if stored and logged, 0 if the same vector was there already.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
