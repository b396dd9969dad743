-- Identity's schema: accounts, signing keys, refresh-token sessions, API keys (hashes only),
-- generated secrets and the audit log. Times are Unix milliseconds; every table is STRICT.

CREATE TABLE accounts (
  id            TEXT    NOT NULL PRIMARY KEY,
  email         TEXT    NOT NULL UNIQUE,   -- lower-cased before it gets here
  display_name  TEXT    NOT NULL,
  role          TEXT    NOT NULL CHECK (role IN ('consumer', 'provider', 'admin', 'billing_manager')),
  password_hash TEXT    NOT NULL,
  created_at    INTEGER NOT NULL
) STRICT;

-- ES256 keys that sign access tokens; the newest active one signs, all active ones are published.
CREATE TABLE signing_keys (
  kid         TEXT    NOT NULL PRIMARY KEY,
  private_key BLOB    NOT NULL,            -- PKCS#8
  created_at  INTEGER NOT NULL,
  retired_at  INTEGER
) STRICT;

-- Refresh tokens: only the SHA-256 of the token is kept. A family is every token descended from
-- one sign-in; presenting a used token revokes the whole family.
CREATE TABLE refresh_tokens (
  token_hash TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256
  family_id  TEXT    NOT NULL,
  account_id TEXT    NOT NULL REFERENCES accounts (id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- API keys: only an HMAC-SHA256 of the key (keyed with the api-key hash secret) is kept.
CREATE TABLE api_keys (
  id         TEXT    NOT NULL PRIMARY KEY,
  account_id TEXT    NOT NULL REFERENCES accounts (id),
  name       TEXT    NOT NULL,
  prefix     TEXT    NOT NULL,
  key_hash   TEXT    NOT NULL UNIQUE,      -- hex HMAC-SHA256; the edge's hot-path lookup
  scopes     TEXT    NOT NULL,             -- space-separated
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_account ON api_keys (account_id, created_at DESC);

-- Secrets identity generated for itself when configuration gave none (e.g. the api-key hash secret).
CREATE TABLE secrets (
  name       TEXT    NOT NULL PRIMARY KEY,
  value      BLOB    NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

-- Security-relevant events: who (account), what (action, target), when. Never secrets.
CREATE TABLE audit_log (
  id          INTEGER NOT NULL PRIMARY KEY,
  occurred_at INTEGER NOT NULL,
  action      TEXT    NOT NULL,
  account_id  TEXT,
  target      TEXT,
  detail      TEXT
) STRICT;
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at);
