--[[
  Whether the capped completion stream was trimmed past a webhook's group, and if so move the group
  to just before the stream's first entry, in one step (a read by another `pipeline webhooks`
  between a check and the move cannot be counted twice or skipped): more entries added after the
  group's position (entries-added less its entries-read, Redis 7) than the stream still holds means
  entries it never read were trimmed away (lib/webhooks/missed.ts). Trimming does not move the
  stream's max-deleted-entry-id (Redis 7.0), so that is not what tells.

  KEYS[1]  the completion stream ({p}:done, or a shard's {p:N}:done)
  ARGV[1]  the group (webhook:<name>)

  Returns: { missed, last-delivered-id before }: missed is 0 when nothing was trimmed past the
  group; else the entries lost, or -1 when Redis does not know the group's entries-read and its
  position is before the first entry (a loss of unknown size, at least one as far as can be told).
]]
-- stream_id, stream_id_older: lib/lua/shared/stream-ids.lua.
if redis.call('EXISTS', KEYS[1]) == 0 then return { 0, '' } end
local s = {}
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
local g = nil
for _, row in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local h = {}
  for i = 1, #row, 2 do h[row[i]] = row[i + 1] end
  if h['name'] == ARGV[1] then g = h end
end
if not g then return { 0, '' } end
local last = g['last-delivered-id']
local first = s['first-entry']
if not first then return { 0, last } end
-- Trimming removes from the head only: a group at or past the first entry has every entry after it.
if not stream_id_older(last, first[1]) then return { 0, last } end
local added = tonumber(s['entries-added'])
local kept = tonumber(s['length'])
local read = g['entries-read']
local missed
if read then
  -- Redis' own lag arithmetic: the entries after the group's position, less those still in the stream.
  missed = added - tonumber(read) - kept
  if missed <= 0 then return { 0, last } end
else
  -- No counter (a group moved by hand): a position before the first entry is taken as a loss of unknown size.
  missed = -1
end
local ms, seq = stream_id(first[1])
local before
if seq > 0 then before = string.format('%.0f-%.0f', ms, seq - 1) else before = string.format('%.0f-18446744073709551615', ms - 1) end
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], before, 'ENTRIESREAD', added - kept)
return { missed, last }
