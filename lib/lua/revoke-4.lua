--[[
  Revoke one id (lib/ops/revoke.ts, `pipeline revoke`, `POST /v1/products/{id}/revoke`), in one
  step: an id whose trip has ended (its status is final) is answered with that status and nothing
  changes; otherwise a marker is added to the revokes stream with a cut-off, the input stream's
  last generated id now. Every version of the id that got an input entry id (the envelope's
  origin) up to the cut-off was submitted before the revoke; one after it is processed normally.
  Redis assigned both ids, in order: no clock decides. Old markers are trimmed by the new entry's
  own (server-time) id, and the stream expires with the last of them. The id's `pipeline reprocess`
  marker goes: the version it put back was made before the revoke, so it is revoked (or, in the
  store's hands, stored), and a reprocess run after the revoke must not skip the id as in flight.

  KEYS[1]  the id's status ({p}:status:<id>)
  KEYS[2]  the input stream ({p}:<input>)
  KEYS[3]  the revokes stream ({p}:revokes)
  KEYS[4]  the id's reprocess marker ({p}:reprocess:<id>)
  ARGV[1]  the id
  ARGV[2]  who (cli:<user>, api:<token name>)
  ARGV[3]  why ('' when not given)
  ARGV[4]  how long markers are kept (ms, limits.revokeTtlMs)
  ARGV[5]  the final statuses, space-separated
  ARGV[6]  '1': mark it even when its trip has ended (a version produced again since is revoked too)

  Returns: {'ended', status} when the trip had ended; {'marked', cut-off, status before or '', the
  status value before as stored or ''} (a wait for the id's end waits for another value).
]]
local status = ''
local ok, raw = pcall(redis.call, 'GET', KEYS[1])
if not ok then
  -- A status kept as a hash by an older version (lib/stream/status-value.ts).
  status = redis.call('HGET', KEYS[1], 's') or ''
  raw = ''
elseif raw then
  local decoded, v = pcall(cjson.decode, raw)
  if decoded and type(v) == 'table' and type(v.s) == 'string' then status = v.s end
end
if ARGV[6] ~= '1' then
  for s in string.gmatch(ARGV[5], '%S+') do
    if s == status then return { 'ended', status } end
  end
end
local cutoff = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info - 1, 2 do
    if info[i] == 'last-generated-id' then cutoff = info[i + 1] end
  end
end
local fields = { 'k', ARGV[1], 'c', cutoff, 'b', ARGV[2] }
if ARGV[3] ~= '' then
  fields[#fields + 1] = 'r'
  fields[#fields + 1] = ARGV[3]
end
local id = redis.call('XADD', KEYS[3], '*', unpack(fields))
local ms = tonumber(string.match(id, '^(%d+)-'))
local ttl = tonumber(ARGV[4])
if ms > ttl then redis.call('XTRIM', KEYS[3], 'MINID', '~', tostring(ms - ttl)) end
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('DEL', KEYS[4])
return { 'marked', cutoff, status, raw or '' }
