-- The outbox carries more than quota notices: every notification has a type (its body's "type"),
-- and its "exactly once" key depends on the type. Quota notices keep theirs, (subscription, cycle,
-- threshold); other types name what they are about, once, in dedup_key — for
-- identity.api_key.expiring the key id and its expire_time ('key_…/<Unix ms>'), so a second pass
-- or a restart adds nothing and a rotated key's successor (a new id) gets its own notice.
-- Quota notices still insert the columns they always did: type defaults to theirs, dedup_key to
-- NULL. Other types leave the quota columns at '' / 0.
--
-- SQLite cannot drop a table constraint, so notifications is rebuilt with its rows unchanged. The
-- delivery log refers to it, so the log is set aside and restored (ids kept) around the rebuild.

CREATE TABLE notifications_v2 (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL DEFAULT 'usage.quota.threshold_reached',
  consumer_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL DEFAULT '',
  cycle_start INTEGER NOT NULL DEFAULT 0,
  threshold_percent INTEGER NOT NULL DEFAULT 0,
  dedup_key TEXT,
  payload TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  completed_at INTEGER,
  CHECK ((type = 'usage.quota.threshold_reached') = (dedup_key IS NULL))
) STRICT;

INSERT INTO notifications_v2 (id, type, consumer_id, subscription_id, cycle_start, threshold_percent, dedup_key, payload,
                              status, attempts, next_attempt_at, created_at, completed_at)
SELECT id, 'usage.quota.threshold_reached', consumer_id, subscription_id, cycle_start, threshold_percent, NULL, payload,
       status, attempts, next_attempt_at, created_at, completed_at
FROM notifications;

CREATE TEMP TABLE webhook_deliveries_saved AS SELECT * FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
DROP TABLE notifications;
ALTER TABLE notifications_v2 RENAME TO notifications;

CREATE UNIQUE INDEX notifications_quota_once ON notifications (subscription_id, cycle_start, threshold_percent)
  WHERE type = 'usage.quota.threshold_reached';
CREATE UNIQUE INDEX notifications_once ON notifications (type, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 0;

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

INSERT INTO webhook_deliveries (id, notification_id, consumer_id, attempt, attempted_at, url, status_code, error, succeeded, duration_ms)
SELECT id, notification_id, consumer_id, attempt, attempted_at, url, status_code, error, succeeded, duration_ms
FROM webhook_deliveries_saved ORDER BY id;
DROP TABLE webhook_deliveries_saved;

CREATE INDEX webhook_deliveries_consumer ON webhook_deliveries (consumer_id, id);
