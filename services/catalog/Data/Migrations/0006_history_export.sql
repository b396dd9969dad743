-- History export (docs/catalog.md "History export"): the newest version of each API that is in the
-- bucket. With Catalog:Export:Automatic, the export worker writes every API whose current_version
-- is above it; api_versions itself is the outbox, so nothing is lost when the catalog restarts or
-- the bucket is away for a while.
CREATE TABLE api_exports (
  api_id TEXT PRIMARY KEY REFERENCES apis (id),
  exported_version INTEGER NOT NULL,
  exported_at INTEGER NOT NULL
) STRICT;
