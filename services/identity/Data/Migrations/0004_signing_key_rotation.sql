-- Signing-key rotation (docs/identity.md, "Signing keys"): a key is published when it is made and
-- signs from activates_at on; the newest key whose activates_at has passed signs. A key stops
-- signing (retired_at) when its successor activates, and its row is deleted once every token it
-- signed has expired. Keys made before this version activated when they were made.
-- private_key (and secrets.value) now hold AES-256-GCM sealed values (Veil:Secrets:Kek); rows
-- written in clear by earlier versions are sealed at start (SecretsUpgrade).
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
CREATE INDEX signing_keys_activates_at ON signing_keys (activates_at);
