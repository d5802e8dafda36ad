--[[
  Store a product's vector under its category, and keep it under that one only. The product's
  category is recorded (KEYS[3]); when it was another one, the key leaves that category's hash and
  a removal marker ("\0" .. key) goes on that category's log, so every worker's copy drops it at its
  next sync. The old category's keys are only known to the caller once this script has named it:
  without them (ARGV[4] not that category) nothing is written and the old category is returned,
  for the caller to call again with its keys. A product with no record yet (stored before records
  were kept) is taken to be in its stored product hash's category (KEYS[4], field `category`).
  The vector is stored and logged only when new or changed: reprocessing the same product with the
  same vector into the same category neither grows the log nor makes other workers reload it.

  KEYS[1]  vectors hash of the category      ({p}:vectors:<category>)
  KEYS[2]  key log of the category           ({p}:vectors:<category>:log)
  KEYS[3]  product key -> category record    ({p}:vectors::category)
  KEYS[4]  the stored product hash           ({p}:product:<key>), read only
  KEYS[5]  the old category's vectors hash   (only with ARGV[4])
  KEYS[6]  the old category's key log        (only with ARGV[4])
  ARGV[1]  product key
  ARGV[2]  vector bytes (little-endian float32)
  ARGV[3]  category
  ARGV[4]  the old category KEYS[5..6] belong to ("" when not given)

  Returns: 1 if stored and logged, 0 if the same vector was there already; the old category's
  name (a string) when its keys are needed and were not given.
]]
local recorded = redis.call('HGET', KEYS[3], ARGV[1])
local was = recorded or redis.call('HGET', KEYS[4], 'category')
if was and was ~= ARGV[3] then
  if was ~= ARGV[4] or #KEYS < 6 then return was end
  if redis.call('HDEL', KEYS[5], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[6], '\0' .. ARGV[1]) end
end
if recorded ~= ARGV[3] then redis.call('HSET', KEYS[3], ARGV[1], ARGV[3]) end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
