-- Newest wins: the version of the stored row, the record's input-stream entry id made sortable as
-- text (milliseconds and sequence zero-padded, compared with COLLATE "C"). A delivery with an
-- older version is dropped; rows stored before this column existed (NULL) accept any version.
ALTER TABLE products ADD COLUMN IF NOT EXISTS version text;
