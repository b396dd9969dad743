-- Raw usage events, deduplicated on the edge's event id and kept for reconciliation.
-- The plan terms the edge enforced travel with every event (see docs/usage-and-billing.md).
-- id grows with every insert (writes are serialised), which the rollup watermark relies on;
-- rows are appended, so a batch dirties few pages. cycle_start is the billing cycle the event
-- was counted in, so a recount from raw events uses exactly the assignment the counters used.
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  edge_id TEXT NOT NULL,
  api_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  config_version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  consumer_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  status_code INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  billable INTEGER NOT NULL,
  monthly_quota INTEGER NOT NULL,
  overage_allowed INTEGER NOT NULL,
  price_per_call_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  subscription_start INTEGER NOT NULL,
  cycle_start INTEGER NOT NULL
) STRICT;

CREATE INDEX events_subscription_cycle ON events (subscription_id, cycle_start);

-- Events that were not counted: outside the dedup window, in the future, or malformed.
-- quarantine_key is the event id, or a hash of the event when it has no usable id, so a
-- replayed batch does not add rows.
CREATE TABLE quarantine (
  id INTEGER PRIMARY KEY,
  quarantine_key TEXT NOT NULL UNIQUE,
  reason INTEGER NOT NULL,
  detail TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  event BLOB NOT NULL,
  received_at INTEGER NOT NULL
) STRICT;

-- Counters per (granularity, bucket, subscription, key, api), maintained by the roller from the
-- events after the watermark below, in the transaction that moves the watermark. consumer_id
-- and provider_id are part of the key so that a row never mixes tenants, whatever an event
-- claims. granularity: 1 minute, 2 hour, 3 day (UTC).
CREATE TABLE rollups (
  granularity INTEGER NOT NULL,
  bucket_start INTEGER NOT NULL,
  subscription_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  api_id TEXT NOT NULL,
  consumer_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  total_calls INTEGER NOT NULL,
  billable_calls INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  PRIMARY KEY (granularity, bucket_start, subscription_id, key_id, api_id, consumer_id, provider_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX rollups_consumer ON rollups (granularity, consumer_id, bucket_start);
CREATE INDEX rollups_provider ON rollups (granularity, provider_id, bucket_start);
CREATE INDEX rollups_subscription ON rollups (granularity, subscription_id, bucket_start);

-- The last events.id the rollups include (one row).
CREATE TABLE rollup_watermark (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_event_id INTEGER NOT NULL
) STRICT;

INSERT INTO rollup_watermark (id, last_event_id) VALUES (1, 0);

-- The latest plan-terms snapshot seen for each subscription (by occurred_at of its events).
CREATE TABLE subscriptions (
  subscription_id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  api_id TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  monthly_quota INTEGER NOT NULL,
  overage_allowed INTEGER NOT NULL,
  price_per_call_minor INTEGER NOT NULL,
  currency TEXT NOT NULL,
  subscription_start INTEGER NOT NULL,
  terms_observed_at INTEGER NOT NULL
) STRICT;

-- Calls per subscription and billing cycle, maintained in the ingest transaction: the quota
-- counter, and what billing invoices.
CREATE TABLE cycles (
  subscription_id TEXT NOT NULL,
  cycle_start INTEGER NOT NULL,
  cycle_end INTEGER NOT NULL,
  total_calls INTEGER NOT NULL,
  billable_calls INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, cycle_start)
) STRICT, WITHOUT ROWID;

CREATE INDEX cycles_end ON cycles (cycle_end);

-- One webhook per consumer. The secret is encrypted with ASP.NET Core Data Protection.
CREATE TABLE webhooks (
  consumer_id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  protected_secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

-- The outbox: one notification per subscription, cycle and threshold (the UNIQUE constraint
-- makes "exactly once per cycle" hold even if a crossing were detected twice). Inserted in
-- the ingest transaction that crossed the threshold; delivered by the webhook dispatcher.
-- status: 0 pending, 1 delivered, 2 failed (attempts exhausted), 3 no webhook configured.
CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  consumer_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  cycle_start INTEGER NOT NULL,
  threshold_percent INTEGER NOT NULL,
  payload TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  completed_at INTEGER,
  UNIQUE (subscription_id, cycle_start, threshold_percent)
) STRICT;

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 0;

-- Every delivery attempt, for the consumer's delivery log.
CREATE TABLE webhook_deliveries (
  id INTEGER PRIMARY KEY,
  notification_id TEXT NOT NULL REFERENCES notifications (id),
  consumer_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  url TEXT NOT NULL,
  status_code INTEGER NOT NULL,
  error TEXT NOT NULL,
  succeeded INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_deliveries_consumer ON webhook_deliveries (consumer_id, id);
