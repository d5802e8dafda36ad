-- The postgres sink's products table: one row per product key, upserted by the store stage.
-- Indexed columns are the summary fields the store stage extracts; `doc` holds the whole record
-- (input, every stage output, route, model versions, per-hop timings).
CREATE TABLE IF NOT EXISTS products (
  key          text        PRIMARY KEY,
  category     text        NOT NULL,
  brand        text,
  mpn          text,
  gtin         text,
  gtin_valid   boolean,
  duplicate_of text,
  doc          jsonb       NOT NULL,
  -- store-stream entry that carried the stored version, and the producer's trace id
  entry_id     text        NOT NULL,
  trace_id     text        NOT NULL,
  -- distinct store-stream entries that wrote this key (a re-delivery of the same entry does not count)
  copies       integer     NOT NULL DEFAULT 1,
  produced_at  timestamptz,
  stored_at    timestamptz NOT NULL DEFAULT now()
);

-- export --category (keyset by key within a category) and --since
CREATE INDEX IF NOT EXISTS products_category_key_idx ON products (category, key);
CREATE INDEX IF NOT EXISTS products_stored_at_idx ON products (stored_at);
-- look-ups by identifier
CREATE INDEX IF NOT EXISTS products_gtin_idx ON products (gtin) WHERE gtin IS NOT NULL;
CREATE INDEX IF NOT EXISTS products_mpn_idx ON products (mpn) WHERE mpn IS NOT NULL;
