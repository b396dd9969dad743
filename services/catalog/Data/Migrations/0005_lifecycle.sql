-- API lifecycle (docs/catalog.md, "Lifecycle: suspend, deprecate, delete"). Not part of any config
-- version: api_versions stays the immutable configuration history, and a lifecycle change only
-- moves these columns and bumps the gateway revision. Times are unix ms, 0 for unset.
-- suspended_at: while > 0 the API is SUSPENDED. deleted_at: > 0 once deleted (RETIRING until
-- sunset_time, RETIRED from it). deprecate_time / sunset_time / deprecation_link: what the
-- edge sends as Deprecation, Sunset and Link.
-- lifecycle_revision: gateway revision of the last lifecycle change; lifecycle_synced: the one
-- subscriptions acknowledged (SetApiLifecycle), so an unacknowledged change is pushed again.
ALTER TABLE apis ADD COLUMN suspended_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apis ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apis ADD COLUMN deprecate_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apis ADD COLUMN sunset_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apis ADD COLUMN deprecation_link TEXT NOT NULL DEFAULT '';
ALTER TABLE apis ADD COLUMN lifecycle_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apis ADD COLUMN lifecycle_synced INTEGER NOT NULL DEFAULT 0;
CREATE INDEX apis_lifecycle_unsynced ON apis (lifecycle_revision) WHERE lifecycle_revision > lifecycle_synced;
