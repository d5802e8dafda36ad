--[[
  Purge one chunk of a stage's waiting entries (`pipeline purge`, lib/ops/stage-purge.ts): the
  entries after the group's last-delivered-id, up to the chunk's last id, are dead-lettered with
  reason `purged` (fields as lib/stream/deadletter.ts writes them), each record's completion is
  written (dead_lettered, purged, as lib/stream/done.ts does), and the group is moved past them.
  One step, so a consumer reading at the same time either was delivered an entry before (it is
  pending: left alone) or is never delivered it. Entries a consumer read since the caller's XRANGE
  are skipped: the range starts after the group's last-delivered-id as it is now.

  KEYS[1]     the stage's input stream ({p}:<input>)
  KEYS[2]     dead-letter stream ({p}:dlq)
  KEYS[3]     completions stream ({p}:done)
  KEYS[4..]   status keys ({p}:status:<k>) of the chunk's records, in the order of ARGV[9..]
  ARGV[1]     group (the stage name)
  ARGV[2]     id of the chunk's last entry (as the caller's XRANGE read it)
  ARGV[3]     the stream's name without the prefix (the dead letter's "stream" field)
  ARGV[4]     the dead letter's "error" field (who purged it)
  ARGV[5]     now (ms since epoch)
  ARGV[6]     MAXLEN ~ of the completions stream
  ARGV[7]     status key TTL (ms)
  ARGV[8]     status value prefix: the JSON object's fields but time, ending with a comma
  ARGV[9..]   the record keys (k) of KEYS[4..], one each

  Returns: {moved, last id moved ('' when none)}; or -1 when the group does not exist.
]]
local group = ARGV[1]
local info = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local row = {}
  for i = 1, #g, 2 do row[g[i]] = g[i + 1] end
  if row['name'] == group then info = row end
end
if not info then return -1 end

local statusKey = {}
for i = 4, #KEYS do statusKey[ARGV[i + 5]] = KEYS[i] end

local entries = redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], ARGV[2])
if #entries == 0 then return {0, ''} end

local statusValue = ARGV[8] .. '"t":' .. ARGV[5] .. '}'
for _, e in ipairs(entries) do
  local fields = e[2]
  local keep = {}
  local k = nil
  for i = 1, #fields, 2 do
    local name = fields[i]
    if name == 'k' or name == 'e' then
      keep[#keep + 1] = name
      keep[#keep + 1] = fields[i + 1]
      if name == 'k' then k = fields[i + 1] end
    end
  end
  for _, v in ipairs({'stage', group, 'stream', ARGV[3], 'id', e[1], 'reason', 'purged', 'error', ARGV[4], 'deliveries', '0', 'at', ARGV[5]}) do
    keep[#keep + 1] = v
  end
  redis.call('XADD', KEYS[2], '*', unpack(keep))
  if k then
    local sk = statusKey[k]
    if not sk then return redis.error_reply('ERR stage-purge: no status key given for record ' .. k) end
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'k', k, 's', 'dead_lettered', 'g', group, 't', ARGV[5], 'r', 'purged', 'x', ARGV[4])
    redis.call('SET', sk, statusValue, 'PX', ARGV[7])
  end
end

-- Keep the group's entries-read (and so its lag) known: exact when it now stands at the stream's
-- end, counted on from the old value otherwise; left unknown (nil) when it was (lag readers count).
local last = entries[#entries][1]
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local read = nil
if #newest > 0 and newest[1][1] == last then
  local s = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #s, 2 do
    if s[i] == 'entries-added' then read = s[i + 1] end
  end
elseif info['entries-read'] then
  read = info['entries-read'] + #entries
end
if read then
  redis.call('XGROUP', 'SETID', KEYS[1], group, last, 'ENTRIESREAD', read)
else
  redis.call('XGROUP', 'SETID', KEYS[1], group, last)
end
return {#entries, last}
