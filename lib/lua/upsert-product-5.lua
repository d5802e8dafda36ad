--[[
  Upsert one product into the Redis store, idempotently, newest version wins: re-delivering a
  store-stream entry already applied changes nothing but the document, `copies` counts the distinct
  productions that wrote this key, by the record's lineage (ARGV[10]: trace id and version, kept on
  every hop and re-delivery; more than 1 means the product was produced more than once), other than
  the versions rebuilt from one the pipeline had (ARGV[6]: a reprocess, a review decision; they
  count only as the product's first store, or as the stored version again from another lineage),
  and a delivery older than the stored version (by ARGV[5], the record's input-stream entry id) is
  dropped: routes of different length, several store workers, reclaims and retries all reorder
  deliveries, and none may store old over new. The indexed fields mirror the stored version: the
  ones it lacks are removed (ARGV[11..]).

  A lineage is counted once: the hash's `lineages` field holds the last ARGV[9] lineages applied to
  it (space-separated, oldest first). A record an upstream stage sent again under a new store entry
  (it ran again on its input entry after a failover lost its hand-off, or lost the store entry it
  had written: the record comes back under a new entry id) has a lineage listed there and does not
  count. The stored lineage is also known by the hash's `trace` and `version` (a hash from before
  `lineages`, or one the previous release wrote during a rolling upgrade).

  An entry is known by its stream and id (ARGV[8], "<stream>/<entry id>": entry ids are per
  stream). The hash's `applied` field holds the last ARGV[9] entries applied to it, space-separated,
  oldest first, the stored one last: an entry among them is a re-delivery (not counted), so a batch
  written and re-delivered before its ack (a store worker killed between its upserts and the ack,
  then the batch reclaimed, whole or one entry at a time) counts nothing again however many entries
  of the key it had: those are still pending, so the check below lets them through. The same rule
  as the Postgres sink's `applied_entries` (docs/data-store.md). A hash from before `applied` (its
  `entry` alone, a bare id) stands for the list; an entry matches a listed one by identity or by
  bare id (the way such a hash knew its stored entry).

  A delivery that is no longer pending in the group that read it (ARGV[7] given) writes nothing:
  its entry was acked (another consumer stored it), or a failover lost the entry or its read. A
  write retried after a master failed over runs on the promoted replica, which may not have the
  entry at all: the record's earlier stage then runs again and sends it under another entry id, and
  counting both would make `copies` 2 for a product stored once. The pending check and the write
  are one step, so a delivery is written only while it is live.

  KEYS[1]  product hash           ({p}:product:<key>)
  KEYS[2]  set of all product keys ({p}:products)
  KEYS[3]  category index set     ({p}:category:<category>)
  KEYS[4]  the product's `pipeline reprocess` marker ({p}:reprocess:<key>, reprocess-2.lua): deleted
           once a version at or after the marker's origin reaches the store, stored or dropped as
           older than the stored version (a run that read the product just before a newer record
           was stored puts back a version the store drops), as drop-reprocess-marker-1.lua does
           for other sinks (an origin-less marker: once another store entry than the one it was
           built from is stored), so markers do not outlive their purpose by the marker TTL
  KEYS[5]  the stream the entry ARGV[2] is in (the store's input, or a fused upstream's), for the
           pending check (no such stream or group: no check); any key of the slot when ARGV[7] is ""
  ARGV[1]  product key
  ARGV[2]  store-stream entry id that carries this version
  ARGV[3]  category
  ARGV[4]  category set key prefix ({p}:category:), to drop the key from its old category's set
           (same hash tag, so the same slot on a cluster)
  ARGV[5]  version: the record's input-stream entry id ("ms-seq"), or "" when unknown (always written)
  ARGV[6]  "1" when the version was rebuilt (`pipeline reprocess`, a review decision), else ""
  ARGV[7]  the consumer group that read ARGV[2] from KEYS[5]: written only while the entry is pending
           there; "" = no check (a caller outside a consumer group)
  ARGV[8]  the delivery's identity: "<stream>/<entry id>" (the stream's config name), or the bare
           entry id when its stream is unknown (no spaces)
  ARGV[9]  how many applied entries the hash keeps in `applied`, and lineages in `lineages`
           (settings.appliedEntriesKept, 16)
  ARGV[10] the record's lineage: "<trace id>/<version>" (lineageOf, stages/sinks/sink.ts), "" when
           it has no version (the entry alone then tells a re-delivery; no spaces)
  ARGV[11] n: how many indexed fields follow that this version does not have
  ARGV[12..11+n] those field names: removed from the hash (HDEL, only those it holds, before any
           write), so the indexed fields mirror the stored version and an earlier version's brand,
           mpn, reviewedBy... are not served beside a document that no longer has them
  ARGV[12+n..] field/value pairs for the hash (`trace` among them)

  Returns: 1 if this entry was new for the product and its lineage too, 0 if it was a re-delivery (one
  of `applied`) or of a lineage applied before, -1 if it was older than the stored version and
  dropped, -2 if it is not pending in its group (nothing written).
]]
-- The marker goes once a version at or after its origin arrives (`stored`: false when the
-- delivery is dropped as older than the stored version; an origin-less marker then stays).
local function dropMarker(stored)
  local marker = redis.call('HMGET', KEYS[4], 'origin', 'from')
  if not marker[2] then return end
  local done = false
  if not marker[1] or marker[1] == '' then
    done = stored and marker[2] ~= ARGV[2]
  else
    done = stream_id_at_or_after(ARGV[5], marker[1]) -- lib/lua/shared/stream-ids.lua
  end
  if done then redis.call('DEL', KEYS[4]) end
end

if ARGV[7] ~= '' then
  -- No such stream or group (NOGROUP): no consumer group reads it (a store called outside a worker), nothing to check.
  local pending = redis.pcall('XPENDING', KEYS[5], ARGV[7], ARGV[2], ARGV[2], 1)
  if not pending.err and #pending == 0 then return -2 end
end
local nclear = tonumber(ARGV[11])
local clear = {}
for i = 12, 11 + nclear do clear[#clear + 1] = ARGV[i] end
local old = redis.call('HMGET', KEYS[1], 'category', 'entry', 'version', 'applied', 'trace', 'lineages', unpack(clear))
local version = ARGV[5]
if version ~= '' and old[3] then
  -- Stream ids compare as two numbers: milliseconds, then sequence.
  local ms, seq = string.match(version, '^(%d+)-(%d+)$')
  local oms, oseq = string.match(old[3], '^(%d+)-(%d+)$')
  if ms and oms then
    ms, seq, oms, oseq = tonumber(ms), tonumber(seq), tonumber(oms), tonumber(oseq)
    if ms < oms or (ms == oms and seq < oseq) then
      dropMarker(false)
      return -1
    end
  end
end
local held = {}
for i = 1, nclear do
  if old[6 + i] then held[#held + 1] = clear[i] end
end
if #held > 0 then redis.call('HDEL', KEYS[1], unpack(held)) end
-- The entries applied before (oldest first), and the list after this one: without it (matched by
-- identity or, as a hash from before `applied` knew its stored entry, by bare id), then it, last;
-- the newest ARGV[9] kept. A stored entry that is not the list's last (a hash from before
-- `applied`, or written by the previous release during a rolling upgrade) is added by its bare id.
local ident = ARGV[8]
local listed = {}
if old[4] then
  for e in string.gmatch(old[4], '%S+') do listed[#listed + 1] = e end
end
local last = listed[#listed]
if old[2] and last ~= old[2] and (not last or string.sub(last, -#old[2] - 1) ~= '/' .. old[2]) then listed[#listed + 1] = old[2] end
local applied = {}
local fresh = 1
for _, e in ipairs(listed) do
  if e == ident or e == ARGV[2] then
    fresh = 0
  else
    applied[#applied + 1] = e
  end
end
applied[#applied + 1] = ident
local kept = tonumber(ARGV[9])
if #applied > kept then applied = { unpack(applied, #applied - kept + 1) } end
-- The lineages applied before (oldest first), the stored one last (from the hash's trace and
-- version: a hash from before `lineages`, or written by the previous release during a rolling
-- upgrade, knows it so). A lineage among them is the same record again: not counted, not listed again.
local lineage = ARGV[10]
local lineages = {}
local stored = (old[5] and old[3]) and (old[5] .. '/' .. old[3]) or nil
if old[6] then
  for l in string.gmatch(old[6], '%S+') do
    if l ~= stored then lineages[#lineages + 1] = l end
  end
end
if stored then lineages[#lineages + 1] = stored end
if lineage ~= '' then
  local known = false
  for _, l in ipairs(lineages) do
    if l == lineage then known = true end
  end
  if known then
    fresh = 0
  else
    lineages[#lineages + 1] = lineage
    if #lineages > kept then lineages = { unpack(lineages, #lineages - kept + 1) } end
  end
end
if fresh == 1 and (ARGV[6] == '' or not old[2] or old[3] == version) then redis.call('HINCRBY', KEYS[1], 'copies', 1) end
if old[1] and old[1] ~= ARGV[3] then
  redis.call('SREM', ARGV[4] .. old[1], ARGV[1])
end
local fields = {}
for i = 12 + nclear, #ARGV do fields[#fields + 1] = ARGV[i] end
if version ~= '' then
  fields[#fields + 1] = 'version'
  fields[#fields + 1] = version
end
if #lineages > 0 then
  fields[#fields + 1] = 'lineages'
  fields[#fields + 1] = table.concat(lineages, ' ')
end
redis.call('HSET', KEYS[1], 'entry', ARGV[2], 'applied', table.concat(applied, ' '), 'category', ARGV[3], unpack(fields))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
dropMarker(true)
return fresh
