-- Plans change by versions (docs/subscriptions.md, "Changing a plan"). The plans row holds the
-- current version's terms; plan_versions keeps every version, immutable, so a subscription's cycle
-- is always priced and enforced with the version it started on.
-- state: 1 active, 2 archived (the PlanState enum values); deleted_at marks a soft delete.
ALTER TABLE plans ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE plans ADD COLUMN state INTEGER NOT NULL DEFAULT 1 CHECK (state IN (1, 2));
ALTER TABLE plans ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plans ADD COLUMN deleted_at INTEGER;
UPDATE plans SET updated_at = created_at;

CREATE TABLE plan_versions (
  plan_id TEXT NOT NULL REFERENCES plans (id),
  version INTEGER NOT NULL CHECK (version >= 1),
  name TEXT NOT NULL,
  requests_per_second INTEGER NOT NULL CHECK (requests_per_second BETWEEN 1 AND 100000),
  burst INTEGER NOT NULL CHECK (burst BETWEEN 1 AND 100000),
  monthly_quota INTEGER NOT NULL CHECK (monthly_quota >= 0),
  price_per_call_minor INTEGER NOT NULL CHECK (price_per_call_minor >= 0),
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  overage_allowed INTEGER NOT NULL CHECK (overage_allowed IN (0, 1)),
  base_price_minor INTEGER NOT NULL CHECK (base_price_minor >= 0),
  overage_price_per_call_minor INTEGER NOT NULL CHECK (overage_price_per_call_minor >= 0),
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  PRIMARY KEY (plan_id, version)
) STRICT;

-- Every existing plan is its own version 1.
INSERT INTO plan_versions (plan_id, version, name, requests_per_second, burst, monthly_quota, price_per_call_minor, currency,
                           overage_allowed, base_price_minor, overage_price_per_call_minor, created_at, created_by)
SELECT id, 1, name, requests_per_second, burst, monthly_quota, price_per_call_minor, currency, overage_allowed, base_price_minor,
       overage_price_per_call_minor, created_at, provider_id
FROM plans;

-- The version a subscription started on; later cycles take the plan's version at their start.
ALTER TABLE subscriptions ADD COLUMN plan_version INTEGER NOT NULL DEFAULT 1;

-- A deleted plan gives up its name, so the provider can reuse it.
DROP INDEX plans_api_name;
CREATE UNIQUE INDEX plans_api_name ON plans (api_id, name COLLATE NOCASE) WHERE deleted_at IS NULL;

-- Notices of plan changes to current subscribers, queued in the change's transaction and sent to
-- usage's NotifyConsumers by PlanNotices; id is the notice id, so a retry queues once.
CREATE TABLE plan_notices (
  id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  data_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at INTEGER
) STRICT;
CREATE INDEX plan_notices_pending ON plan_notices (created_at) WHERE sent_at IS NULL;
