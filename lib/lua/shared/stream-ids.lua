--[[
  Stream-id comparisons every function of the library uses, defined once: lib/redis/functions.ts
  puts the files of lib/lua/shared/ at the top of the library, before the functions, whose
  callbacks see these locals. Ids are "ms-seq" strings (an entry id, a record's origin); "" or
  anything else is not one.
]]
-- ms, seq of a stream id; nil when `v` is not one.
local function stream_id(v)
  if not v or v == '' then return nil end
  local ms, seq = string.match(v, '^(%d+)-(%d+)$')
  if not ms then return nil end
  return tonumber(ms), tonumber(seq)
end

-- a < b as stream ids; false when either is not one.
local function stream_id_older(a, b)
  local ams, aseq = stream_id(a)
  local bms, bseq = stream_id(b)
  if not ams or not bms then return false end
  return ams < bms or (ams == bms and aseq < bseq)
end

-- a >= b as stream ids; false when either is not one.
local function stream_id_at_or_after(a, b)
  local ams, aseq = stream_id(a)
  local bms, bseq = stream_id(b)
  if not ams or not bms then return false end
  return ams > bms or (ams == bms and aseq >= bseq)
end
