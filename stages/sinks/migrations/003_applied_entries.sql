-- Idempotent per store-stream entry. `entry_stream`: the stream (config name) `entry_id` is in, so
-- the stored entry is known by both (entry ids are per stream). `applied_entries`: the last entries
-- applied to the row ("<stream>/<entry id>", or the bare id when the stream is unknown), newest last,
-- at most 16: a re-delivery of any of them (a batch committed whose ack was lost, reclaimed or retried
-- after a crash or a failover, with several entries of the key) is not counted in `copies` again.
-- Both NULL on rows stored before this migration: their `entry_id` alone identifies the stored entry.
ALTER TABLE products ADD COLUMN IF NOT EXISTS entry_stream text;
ALTER TABLE products ADD COLUMN IF NOT EXISTS applied_entries text[];
