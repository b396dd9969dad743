-- Upstream policies (docs/policies.md), part of each immutable config version like every other
-- field: a new version copies them unless the change names them.
-- upstream_credentials: JSON array of {"location","name","value" (sealed, vsk1.…),"hint"}.
-- signing_secret / previous_signing_secret: sealed (vsk1.…) or '' for none.
-- previous_signing_secret_expires_at: unix ms after which the previous secret is no longer sent.
ALTER TABLE api_versions ADD COLUMN upstream_credentials TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_versions ADD COLUMN signing_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE api_versions ADD COLUMN previous_signing_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE api_versions ADD COLUMN previous_signing_secret_expires_at INTEGER NOT NULL DEFAULT 0;
