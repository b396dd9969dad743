-- ListExpiringApiKeys (usage's key-expiry notices) walks the live keys in expire_time order.
CREATE INDEX api_keys_expiry ON api_keys (expires_at, id) WHERE revoked_at IS NULL;
