-- The quota follows (consumer, API, cycle): a subscription started within the cycle of the
-- consumer's cancelled one shares its anchor, and its calls count against the same quota. This
-- index finds a consumer's subscriptions to an API for those sums.
CREATE INDEX subscriptions_consumer_api ON subscriptions (consumer_id, api_id);
