-- Gateway policies (docs/policies.md) of each immutable config version: targets and load
-- balancing, health checks, circuit breaker, retries, protocol, CORS and transforms. The JSON of
-- veil.catalog.v1.ApiPolicies (protobuf JSON, default values left out); '{}' for none. No secrets.
ALTER TABLE api_versions ADD COLUMN policies TEXT NOT NULL DEFAULT '{}';
