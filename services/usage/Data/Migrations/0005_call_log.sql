-- The call log (docs/usage-and-billing.md, "Call log"): what a consumer or provider needs to find
-- one call again, kept only Usage:Retention:CallLog (7 days) instead of the raw events' 95. It lives
-- beside the events rather than in them so that the retention job deletes whole rows (no rewrite
-- of the events billing recounts) and its index covers a week, not three months.
-- id is the call's events.id; request_id and path are '' for calls from edges before the call log.
CREATE TABLE calls (
  id INTEGER PRIMARY KEY,
  context_id INTEGER NOT NULL,
  occurred_at INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  path TEXT NOT NULL
) STRICT;

-- A page is the newest calls of each visible context, merged: one backward range per context.
CREATE INDEX calls_context_time ON calls (context_id, occurred_at);

-- Which contexts a consumer or a provider may see.
CREATE INDEX contexts_consumer ON contexts (consumer_id);
CREATE INDEX contexts_provider ON contexts (provider_id);

-- The display prefix of each API key seen (identity's ApiKey.prefix, as the edge derives it from
-- the key it validated), so that the call log names keys the way their owners see them.
CREATE TABLE api_keys (
  key_id TEXT PRIMARY KEY,
  prefix TEXT NOT NULL
) STRICT, WITHOUT ROWID;
