-- One row per published API: identity, ownership and the pointer to the version being served.
-- The pointer is the only mutable part; configs live in api_versions and never change.
CREATE TABLE apis (
  id TEXT PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  provider_id TEXT NOT NULL,
  current_version INTEGER NOT NULL,
  -- Lower-cased slug, name and description of the current version, for case-insensitive search
  -- (SQLite's lower() and LIKE fold ASCII only; .NET folds the rest when writing).
  search_text TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (id, current_version) REFERENCES api_versions (api_id, version) DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE INDEX apis_provider_slug ON apis (provider_id, slug);

-- Immutable config versions: inserted, never updated (enforced by the trigger below).
CREATE TABLE api_versions (
  api_id TEXT NOT NULL REFERENCES apis (id) DEFERRABLE INITIALLY DEFERRED,
  version INTEGER NOT NULL CHECK (version >= 1),
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  upstream_url TEXT NOT NULL,
  timeout_ms INTEGER NOT NULL,
  openapi_document TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (api_id, version)
) STRICT;

CREATE TRIGGER api_versions_immutable BEFORE UPDATE ON api_versions
BEGIN
  SELECT RAISE(ABORT, 'api_versions rows are immutable');
END;

-- The gateway config revision: one row, bumped in the same transaction as every change, so a
-- watcher that saw revision N has seen every change up to N.
CREATE TABLE gateway_revision (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
) STRICT;

INSERT INTO gateway_revision (id, revision) VALUES (1, 0);
