-- Releases (docs/catalog.md, "Releases") of each immutable config version: the JSON array of
-- veil.catalog.v1.ApiRelease (protobuf JSON, default values left out), v2 and up with their own
-- upstream and policies, and v1 (the version's own configuration) only when it has a state to
-- keep (deprecated). '[]' for none: an API without releases is served as release v1 alone.
ALTER TABLE api_versions ADD COLUMN releases TEXT NOT NULL DEFAULT '[]';
