--[[
  One line of the admin audit trail (lib/ops/audit.ts), written once per call: each call carries a
  random token, kept in the line. A call sent again after its connection dropped (ioredis re-sends
  what was not answered) finds its line among the newest and adds none.

  KEYS[1]  the audit stream ({p}:console:audit)
  ARGV[1]  MAXLEN ~ of the stream
  ARGV[2]  the line (JSON, field a)
  ARGV[3]  this call's token (field c)
  ARGV[4]  how many of the newest lines are looked through for the token

  Returns: the line's entry id (the first call's when it was there already).
]]
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[4])
for _, entry in ipairs(newest) do
  local f = entry[2]
  for i = 1, #f - 1, 2 do
    if f[i] == 'c' and f[i + 1] == ARGV[3] then return entry[1] end
  end
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'a', ARGV[2], 'c', ARGV[3])
