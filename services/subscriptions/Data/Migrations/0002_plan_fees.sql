-- Billing terms (additive): a fee per billing cycle and a separate price for calls beyond the
-- quota (0 = the same as price_per_call_minor). Integer minor units, like every Veil amount.
ALTER TABLE plans ADD COLUMN base_price_minor INTEGER NOT NULL DEFAULT 0 CHECK (base_price_minor >= 0);
ALTER TABLE plans ADD COLUMN overage_price_per_call_minor INTEGER NOT NULL DEFAULT 0 CHECK (overage_price_per_call_minor >= 0);
