-- Where a subscription's monthly cycles are anchored. Until now always created_at; a subscription
-- started while the consumer's cancelled subscription to the same API is still in a cycle it paid
-- for keeps that subscription's anchor, so the quota follows (consumer, API, cycle) and cannot be
-- reset by cancelling and subscribing again.
ALTER TABLE subscriptions ADD COLUMN cycle_anchor INTEGER NOT NULL DEFAULT 0;
UPDATE subscriptions SET cycle_anchor = created_at;
-- The consumer's latest cancelled subscription to an API, read on every Subscribe.
CREATE INDEX subscriptions_consumer_api_canceled ON subscriptions (consumer_id, api_id, canceled_at) WHERE status = 2;
