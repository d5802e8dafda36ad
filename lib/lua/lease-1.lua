--[[
  Take or renew a lease: one holder at a time (e.g. the console's stats sampler, so N console
  processes write one series, not N).

  KEYS[1]  lease key ({p}:console:sampler)
  ARGV[1]  holder id
  ARGV[2]  lease time in ms

  Returns: 1 if the caller holds the lease now (taken or renewed), 0 if another holder has it.
]]
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
