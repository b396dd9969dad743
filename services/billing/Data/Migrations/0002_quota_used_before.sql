-- The quota follows (consumer, API, cycle): a subscription started within the cycle of the
-- consumer's cancelled subscription to the same API shares its cycle, and the calls made under
-- the earlier one used the quota first. Stored with the terms, so a finalised invoice (and its
-- reconciliation) prices exactly as it did.
ALTER TABLE invoices ADD COLUMN quota_used_before INTEGER NOT NULL DEFAULT 0 CHECK (quota_used_before >= 0);
