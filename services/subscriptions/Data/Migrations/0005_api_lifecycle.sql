-- API lifecycles as catalog pushes them (SetApiLifecycle; docs/subscriptions.md, "When an API is
-- suspended, deprecated or deleted"). state: veil.catalog.v1.ApiState (1 active, 2 suspended,
-- 3 deprecated, 4 retiring). Times unix ms, 0 for unset. revision: catalog's gateway revision of
-- the change (a push with a lower one is ignored). sunset_done: 1 once the active subscriptions of
-- a retiring API were cancelled at its sunset. notified_revision: the revision whose webhook
-- notices were handed to usage (NotifyConsumers).
CREATE TABLE api_lifecycles (
  api_id TEXT PRIMARY KEY,
  state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),
  deprecate_time INTEGER NOT NULL,
  sunset_time INTEGER NOT NULL,
  deprecation_link TEXT NOT NULL,
  revision INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  sunset_done INTEGER NOT NULL DEFAULT 0 CHECK (sunset_done IN (0, 1)),
  notified_revision INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The sunset worker's question: which retiring APIs are not cancelled yet, earliest sunset first.
CREATE INDEX api_lifecycles_sunset ON api_lifecycles (sunset_time) WHERE state = 4 AND sunset_done = 0;

-- The sunset cancellation reads one API's active subscriptions.
CREATE INDEX subscriptions_api_active ON subscriptions (api_id) WHERE status = 1;
