-- API key lifecycle: scopes (APIs, read-only), rotation lineage and a coarse last-used time.

-- Space-separated API ids the key may call; empty means every API the account subscribes to.
ALTER TABLE api_keys ADD COLUMN api_ids TEXT NOT NULL DEFAULT '';
-- 1 when the key may only make GET, HEAD and OPTIONS calls.
ALTER TABLE api_keys ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1));
-- The key this one replaced (RotateApiKey).
ALTER TABLE api_keys ADD COLUMN rotated_from TEXT REFERENCES api_keys (id);
-- Start of the hour in which the key was last accepted by ValidateApiKey (Unix ms).
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;

-- A key is rotated at most once: a second successor of the same key is refused by this index,
-- even when two rotations race.
CREATE UNIQUE INDEX api_keys_rotated_from ON api_keys (rotated_from) WHERE rotated_from IS NOT NULL;
