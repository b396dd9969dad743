-- Sessions end: every refresh token carries the absolute end of its family (sign-in time plus
-- Identity:RefreshTokenAbsoluteLifetime), copied on rotation. Tokens issued before this migration
-- keep their own expiry as that end.
ALTER TABLE refresh_tokens ADD COLUMN session_expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE refresh_tokens SET session_expires_at = expires_at;
-- SignOutEverywhere and password changes revoke every live token of an account.
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id) WHERE revoked_at IS NULL;

-- Sign-in back-off: consecutive failed sign-ins per (normalised) email, whether or not an account
-- has it, so the back-off reveals nothing about which emails exist. A success deletes the row;
-- rows untouched for a day are pruned on the next failure.
CREATE TABLE signin_failures (
  email          TEXT    NOT NULL PRIMARY KEY,
  failures       INTEGER NOT NULL,
  last_failed_at INTEGER NOT NULL
) STRICT;
CREATE INDEX signin_failures_last ON signin_failures (last_failed_at);
