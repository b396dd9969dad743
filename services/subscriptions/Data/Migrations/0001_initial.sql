-- Plans a provider offers on one API. api_id is always the catalog's canonical id (never a slug);
-- provider_id is copied from the catalog when the plan is created, so "subscriptions to my APIs"
-- is a local indexed query rather than a call to catalog.
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  api_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  name TEXT NOT NULL,
  requests_per_second INTEGER NOT NULL CHECK (requests_per_second BETWEEN 1 AND 100000),
  burst INTEGER NOT NULL CHECK (burst BETWEEN 1 AND 100000),
  monthly_quota INTEGER NOT NULL CHECK (monthly_quota >= 0),
  -- Money is integer minor units of currency, never floating point.
  price_per_call_minor INTEGER NOT NULL CHECK (price_per_call_minor >= 0),
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  overage_allowed INTEGER NOT NULL CHECK (overage_allowed IN (0, 1)),
  created_at INTEGER NOT NULL
) STRICT;

-- Plan names are unique per API, ignoring ASCII case ("Free" and "free" would confuse consumers).
CREATE UNIQUE INDEX plans_api_name ON plans (api_id, name COLLATE NOCASE);
CREATE INDEX plans_api_created ON plans (api_id, created_at);

-- status: 1 active, 2 cancelled (the SubscriptionStatus enum values).
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL,
  api_id TEXT NOT NULL,
  plan_id TEXT NOT NULL REFERENCES plans (id),
  provider_id TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status IN (1, 2)),
  created_at INTEGER NOT NULL,
  canceled_at INTEGER,
  CHECK ((status = 2) = (canceled_at IS NOT NULL))
) STRICT;

-- One active subscription per consumer and API; also the index CheckEntitlement reads.
CREATE UNIQUE INDEX subscriptions_active ON subscriptions (consumer_id, api_id) WHERE status = 1;
CREATE INDEX subscriptions_consumer ON subscriptions (consumer_id, created_at);
CREATE INDEX subscriptions_provider ON subscriptions (provider_id, created_at);
CREATE INDEX subscriptions_plan ON subscriptions (plan_id);
