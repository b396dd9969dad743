-- Billing: invoices, their lines, payments, adjustments, credit holds, reconciliation runs and
-- the money audit log. Every amount is INTEGER minor units of its row's currency; nothing here
-- is ever a floating-point number. Times are Unix milliseconds.

-- One invoice per subscription and billing cycle (the cycle usage reports). status: 1 draft,
-- 2 finalised (paid or not: payment is a row in `payments`). The plan terms it was priced with
-- are copied in, so a finalised invoice explains itself without subscriptions.
CREATE TABLE invoices (
  id TEXT PRIMARY KEY,
  number TEXT UNIQUE,
  status INTEGER NOT NULL CHECK (status IN (1, 2)),
  account_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  api_id TEXT NOT NULL,
  provider_id TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL CHECK (period_end > period_start),
  billable_calls INTEGER NOT NULL CHECK (billable_calls >= 0),
  base_price_minor INTEGER NOT NULL CHECK (base_price_minor >= 0),
  price_per_call_minor INTEGER NOT NULL CHECK (price_per_call_minor >= 0),
  overage_price_per_call_minor INTEGER NOT NULL CHECK (overage_price_per_call_minor >= 0),
  monthly_quota INTEGER NOT NULL CHECK (monthly_quota >= 0),
  overage_allowed INTEGER NOT NULL CHECK (overage_allowed IN (0, 1)),
  subtotal_minor INTEGER NOT NULL,
  adjustments_minor INTEGER NOT NULL,
  total_minor INTEGER NOT NULL,
  -- When usage was asked for the counts shown (a refresh never replaces newer counts with older ones).
  usage_as_of INTEGER NOT NULL,
  computed_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  finalized_at INTEGER,
  UNIQUE (subscription_id, period_start),
  CHECK ((status = 2) = (number IS NOT NULL)),
  CHECK ((status = 2) = (finalized_at IS NOT NULL)),
  CHECK (total_minor = subtotal_minor + adjustments_minor)
) STRICT;

CREATE INDEX invoices_account ON invoices (account_id, period_start);
CREATE INDEX invoices_period ON invoices (period_start, id);
CREATE INDEX invoices_provider ON invoices (provider_id, period_start);
CREATE INDEX invoices_drafts ON invoices (period_end) WHERE status = 1;
CREATE INDEX invoices_unpaid ON invoices (account_id, currency) WHERE status = 2;

-- A finalised invoice never changes and is never deleted (the database refuses, whatever the code does).
CREATE TRIGGER invoices_finalized_immutable BEFORE UPDATE ON invoices WHEN OLD.status = 2
BEGIN
  SELECT RAISE(ABORT, 'finalised invoices are immutable');
END;

CREATE TRIGGER invoices_finalized_kept BEFORE DELETE ON invoices WHEN OLD.status = 2
BEGIN
  SELECT RAISE(ABORT, 'finalised invoices are never deleted');
END;

-- kind: 1 base fee, 2 included calls, 3 overage calls, 4 adjustment. amount = quantity × unit
-- exactly (an overflowing product would be a REAL in SQLite and fail the check).
CREATE TABLE invoice_lines (
  invoice_id TEXT NOT NULL REFERENCES invoices (id),
  position INTEGER NOT NULL,
  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
  description TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  unit_price_minor INTEGER NOT NULL,
  amount_minor INTEGER NOT NULL,
  adjustment_id TEXT,
  PRIMARY KEY (invoice_id, position),
  CHECK (amount_minor = quantity * unit_price_minor),
  CHECK ((kind = 4) = (adjustment_id IS NOT NULL))
) STRICT, WITHOUT ROWID;

-- Lines of a finalised invoice are as immutable as the invoice. Finalisation writes the final
-- lines first and flips the status last, inside one transaction.
CREATE TRIGGER invoice_lines_insert_final BEFORE INSERT ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = NEW.invoice_id) = 2
BEGIN
  SELECT RAISE(ABORT, 'lines of finalised invoices are immutable');
END;

CREATE TRIGGER invoice_lines_update_final BEFORE UPDATE ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = OLD.invoice_id) = 2
BEGIN
  SELECT RAISE(ABORT, 'lines of finalised invoices are immutable');
END;

CREATE TRIGGER invoice_lines_delete_final BEFORE DELETE ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = OLD.invoice_id) = 2
BEGIN
  SELECT RAISE(ABORT, 'lines of finalised invoices are immutable');
END;

-- A payment marks a finalised invoice paid. Written once, never changed.
CREATE TABLE payments (
  invoice_id TEXT PRIMARY KEY REFERENCES invoices (id),
  amount_minor INTEGER NOT NULL,
  reference TEXT NOT NULL,
  paid_by TEXT NOT NULL,
  paid_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER payments_final_only BEFORE INSERT ON payments
WHEN (SELECT status FROM invoices WHERE id = NEW.invoice_id) IS NOT 2
BEGIN
  SELECT RAISE(ABORT, 'only finalised invoices can be paid');
END;

CREATE TRIGGER payments_immutable BEFORE UPDATE ON payments
BEGIN
  SELECT RAISE(ABORT, 'payments are immutable');
END;

CREATE TRIGGER payments_kept BEFORE DELETE ON payments
BEGIN
  SELECT RAISE(ABORT, 'payments are never deleted');
END;

-- Reconciliation runs; a run left 'running' by a crash is marked failed at the next start.
-- trigger_kind: 1 schedule, 2 manual. status: 1 running, 2 succeeded, 3 failed.
CREATE TABLE reconciliation_runs (
  id TEXT PRIMARY KEY,
  trigger_kind INTEGER NOT NULL CHECK (trigger_kind IN (1, 2)),
  requested_by TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status IN (1, 2, 3)),
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  window_start INTEGER NOT NULL,
  invoices_checked INTEGER NOT NULL DEFAULT 0,
  differences_found INTEGER NOT NULL DEFAULT 0,
  adjustments_created INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX reconciliation_runs_started ON reconciliation_runs (started_at);

-- Credits (amount < 0) and debits (amount > 0). source: 1 manual, 2 reconciliation. invoice_id
-- is the invoice referred to (corrected); api_id/provider_id/period_start are copied from it
-- for revenue. applied_invoice_id is the invoice it landed on at finalisation: the only column
-- that ever changes, once, from NULL.
CREATE TABLE adjustments (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
  currency TEXT NOT NULL CHECK (length(currency) = 3),
  reason TEXT NOT NULL CHECK (length(reason) > 0),
  source INTEGER NOT NULL CHECK (source IN (1, 2)),
  invoice_id TEXT REFERENCES invoices (id),
  subscription_id TEXT,
  api_id TEXT,
  provider_id TEXT,
  period_start INTEGER,
  billable_calls_delta INTEGER,
  reconciliation_run_id TEXT REFERENCES reconciliation_runs (id),
  request_id TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  applied_invoice_id TEXT REFERENCES invoices (id),
  applied_at INTEGER,
  CHECK ((applied_invoice_id IS NULL) = (applied_at IS NULL)),
  CHECK (source = 1 OR reconciliation_run_id IS NOT NULL)
) STRICT;

CREATE UNIQUE INDEX adjustments_request ON adjustments (created_by, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX adjustments_pending ON adjustments (account_id, currency, created_at) WHERE applied_invoice_id IS NULL;
CREATE INDEX adjustments_invoice ON adjustments (invoice_id);
CREATE INDEX adjustments_applied ON adjustments (applied_invoice_id);
CREATE INDEX adjustments_account ON adjustments (account_id, created_at);
CREATE INDEX adjustments_provider ON adjustments (provider_id, period_start) WHERE provider_id IS NOT NULL;

CREATE TRIGGER adjustments_immutable BEFORE UPDATE ON adjustments
WHEN OLD.applied_invoice_id IS NOT NULL
  OR NEW.id IS NOT OLD.id OR NEW.account_id IS NOT OLD.account_id OR NEW.amount_minor IS NOT OLD.amount_minor
  OR NEW.currency IS NOT OLD.currency OR NEW.reason IS NOT OLD.reason OR NEW.source IS NOT OLD.source
  OR NEW.invoice_id IS NOT OLD.invoice_id OR NEW.subscription_id IS NOT OLD.subscription_id OR NEW.api_id IS NOT OLD.api_id
  OR NEW.provider_id IS NOT OLD.provider_id OR NEW.period_start IS NOT OLD.period_start
  OR NEW.billable_calls_delta IS NOT OLD.billable_calls_delta OR NEW.reconciliation_run_id IS NOT OLD.reconciliation_run_id
  OR NEW.request_id IS NOT OLD.request_id OR NEW.created_by IS NOT OLD.created_by OR NEW.created_at IS NOT OLD.created_at
BEGIN
  SELECT RAISE(ABORT, 'adjustments are immutable once written (only their application is recorded)');
END;

CREATE TRIGGER adjustments_kept BEFORE DELETE ON adjustments
BEGIN
  SELECT RAISE(ABORT, 'adjustments are never deleted');
END;

-- Manual credit holds (automatic holds are computed from unpaid invoices, never stored).
CREATE TABLE credit_holds (
  account_id TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  placed_by TEXT NOT NULL,
  placed_at INTEGER NOT NULL
) STRICT;

-- Append-only: who changed whose money, when, how much and why.
CREATE TABLE money_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  account_id TEXT NOT NULL,
  invoice_id TEXT,
  adjustment_id TEXT,
  currency TEXT,
  amount_minor INTEGER,
  detail TEXT NOT NULL
) STRICT;

CREATE INDEX money_audit_account ON money_audit (account_id, id);

CREATE TRIGGER money_audit_append_only_update BEFORE UPDATE ON money_audit
BEGIN
  SELECT RAISE(ABORT, 'money_audit is append-only');
END;

CREATE TRIGGER money_audit_append_only_delete BEFORE DELETE ON money_audit
BEGIN
  SELECT RAISE(ABORT, 'money_audit is append-only');
END;

-- Gapless invoice numbers, taken inside the finalising transaction.
CREATE TABLE sequences (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;

INSERT INTO sequences (name, value) VALUES ('invoice_number', 0);

-- Draft sync resumes from here: every cycle that ended at or before watermark_ms has been
-- invoiced and finalised (or logged as unbillable).
CREATE TABLE sync_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  watermark_ms INTEGER NOT NULL
) STRICT;

INSERT INTO sync_state (id, watermark_ms) VALUES (1, 0);
