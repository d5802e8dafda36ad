-- `copies` counts productions, not store-stream entries. `applied_lineages`: the last lineages applied
-- to the row ("<trace id>/<version>", the version as the `version` column holds it), oldest first, at
-- most 16: a record an upstream stage sent to the store again under a new entry (it ran again on its
-- input entry after a failover lost its hand-off or the store entry) has one of them and is not
-- counted again. NULL on rows stored before this migration: their `trace_id` and `version` stand for it.
ALTER TABLE products ADD COLUMN IF NOT EXISTS applied_lineages text[];
