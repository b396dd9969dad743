using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Veil.Billing.Data;

/// <summary>Where the counts of a batch come from, which decides what may be done with them.</summary>
public enum CountSource
{
    /// <summary>Usage's counters: good enough for drafts, never for money that stays.</summary>
    Counters,

    /// <summary>Recounted from the raw events: may finalise due drafts and adjust finalised invoices.</summary>
    Recount,
}

/// <summary>An invoice finalised by a batch.</summary>
public sealed record FinalizedInvoice(string Id, string Number, string AccountId, long TotalMinor, string Currency);

/// <summary>What one batch did.</summary>
public sealed class ApplyResult
{
    /// <summary>Cycles compared with an invoice that existed.</summary>
    public int Checked { get; set; }

    /// <summary>Invoices created as drafts.</summary>
    public int Created { get; set; }

    /// <summary>Drafts whose amounts or counts changed.</summary>
    public int Changed { get; set; }

    /// <summary>Existing invoices whose stored billable count differed from the recount.</summary>
    public int Differences { get; set; }

    /// <summary>Cycles skipped because an amount overflowed 64 bits.</summary>
    public List<(string SubscriptionId, long PeriodStart)> Overflowed { get; } = [];

    /// <summary>Invoices finalised.</summary>
    public List<FinalizedInvoice> Finalized { get; } = [];

    /// <summary>Reconciliation adjustments written.</summary>
    public List<(AdjustmentRecord Adjustment, long CallsDelta)> Adjustments { get; } = [];

    /// <summary>
    /// Subscriptions with an invoice whose period overlaps this batch's period of theirs without
    /// starting with it: usage's cycles and the subscription's start disagree (a data bug).
    /// </summary>
    public List<string> Misaligned { get; } = [];
}

public sealed partial class BillingStore
{
    /// <summary>
    /// Applies one batch of priced cycles in one immediate transaction:
    /// <list type="bullet">
    /// <item>no invoice yet: a draft is created;</item>
    /// <item>a draft: its counts and lines are replaced (never by counts older than the ones shown);</item>
    /// <item>with <see cref="CountSource.Recount"/>, a draft whose cycle ended at or before
    /// <paramref name="dueBy"/> is finalised from the recount, and a finalised invoice whose recount
    /// differs from what it billed (plus earlier reconciliation adjustments) gets an adjustment
    /// for the difference. A finalised invoice itself is never touched.</item>
    /// </list>
    /// </summary>
    public async Task<ApplyResult> ApplyAsync(IReadOnlyList<PricedCycle> cycles, CountSource source, long now, long dueBy, string? runId,
        CancellationToken cancellationToken)
    {
        var result = new ApplyResult();
        if (cycles.Count == 0)
        {
            return result;
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        foreach (var priced in cycles)
        {
            var cycle = priced.Cycle;
            var existing = await FindStateAsync(connection, transaction, cycle.SubscriptionId, cycle.PeriodStart, cancellationToken);
            if (existing is null)
            {
                // Calls were served, so they are billed either way; an overlap only says the data disagree.
                if (await FindOverlapAsync(connection, transaction, cycle, cancellationToken) is not null)
                {
                    result.Misaligned.Add(cycle.SubscriptionId);
                }
                var id = await InsertDraftAsync(connection, transaction, priced, now, cancellationToken);
                result.Created++;
                existing = new InvoiceState(id, cycle.SubscriptionId, false, cycle.AccountId, priced.Terms.Currency, cycle.BillableCalls, priced.SubtotalMinor,
                    cycle.UsageAsOf, priced.Terms, cycle.ApiId, cycle.ProviderId, cycle.PeriodStart);
            }
            else if (!existing.Finalized)
            {
                if (source == CountSource.Recount)
                {
                    result.Checked++;
                    if (existing.BillableCalls != cycle.BillableCalls)
                    {
                        result.Differences++;
                    }
                }
                // Counts read earlier than the ones shown never replace them (a slow read racing the job).
                if (cycle.UsageAsOf >= existing.UsageAsOf &&
                    (existing.BillableCalls != cycle.BillableCalls || existing.SubtotalMinor != priced.SubtotalMinor ||
                     existing.Terms.QuotaUsedBefore != priced.Terms.QuotaUsedBefore))
                {
                    await ExecuteAsync(connection, transaction, """
                        UPDATE invoices SET billable_calls = @billable, subtotal_minor = @subtotal, total_minor = @subtotal,
                          quota_used_before = @used_before, usage_as_of = @as_of, computed_at = @now
                        WHERE id = @id AND status = 1;
                        """, cancellationToken, ("@id", existing.Id), ("@billable", cycle.BillableCalls), ("@subtotal", priced.SubtotalMinor),
                        ("@used_before", priced.Terms.QuotaUsedBefore), ("@as_of", cycle.UsageAsOf), ("@now", now));
                    await ExecuteAsync(connection, transaction, "DELETE FROM invoice_lines WHERE invoice_id = @id;", cancellationToken, ("@id", existing.Id));
                    await WriteLinesAsync(connection, transaction, existing.Id, priced.Lines, cancellationToken);
                    result.Changed++;
                }
                else if (cycle.UsageAsOf > existing.UsageAsOf)
                {
                    await ExecuteAsync(connection, transaction, "UPDATE invoices SET usage_as_of = @as_of, computed_at = @now WHERE id = @id AND status = 1;",
                        cancellationToken, ("@id", existing.Id), ("@as_of", cycle.UsageAsOf), ("@now", now));
                }
            }
            else
            {
                // Only a recorded reconciliation run adjusts; finalisation racing another replica just skips.
                if (source == CountSource.Recount && runId is not null)
                {
                    result.Checked++;
                    await ReconcileFinalizedAsync(connection, transaction, existing, cycle.BillableCalls, runId, now, result, cancellationToken);
                }
                continue;
            }

            if (source == CountSource.Recount && cycle.PeriodEnd <= dueBy)
            {
                await FinalizeAsync(connection, transaction, existing, priced, now, result, cancellationToken);
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>
    /// Drafts for periods in which usage has no call, from subscriptions' listing (the base fee only,
    /// if any): created only where the subscription has no invoice overlapping the period, so a
    /// period is invoiced once whichever of usage and the listing saw it first. Checked in a read
    /// first, so the steady state (every period already invoiced) writes nothing; then re-checked
    /// and inserted in one immediate transaction, which another replica's insert cannot slip into.
    /// </summary>
    public async Task<ApplyResult> CreateIdleDraftsAsync(IReadOnlyList<PricedCycle> periods, long now, CancellationToken cancellationToken)
    {
        var result = new ApplyResult();
        var missing = new List<PricedCycle>();
        await using (var connection = await database.OpenAsync(cancellationToken))
        {
            foreach (var priced in periods)
            {
                var overlap = await FindOverlapAsync(connection, null, priced.Cycle, cancellationToken);
                if (overlap is null)
                {
                    missing.Add(priced);
                }
                else if (overlap != priced.Cycle.PeriodStart)
                {
                    result.Misaligned.Add(priced.Cycle.SubscriptionId);
                }
            }
        }
        if (missing.Count == 0)
        {
            return result;
        }

        await using (var connection = await database.OpenAsync(cancellationToken))
        await using (var transaction = connection.BeginTransaction())
        {
            foreach (var priced in missing)
            {
                if (await FindOverlapAsync(connection, transaction, priced.Cycle, cancellationToken) is null)
                {
                    await InsertDraftAsync(connection, transaction, priced, now, cancellationToken);
                    result.Created++;
                }
            }
            await transaction.CommitAsync(cancellationToken);
        }
        return result;
    }

    /// <summary>The start of the subscription's earliest invoice overlapping the cycle's period, or null.</summary>
    private static async Task<long?> FindOverlapAsync(SqliteConnection connection, SqliteTransaction? transaction, CycleInput cycle,
        CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, """
            SELECT period_start FROM invoices
            WHERE subscription_id = @subscription AND period_start < @end AND period_end > @start
            ORDER BY period_start LIMIT 1;
            """, ("@subscription", cycle.SubscriptionId), ("@start", cycle.PeriodStart), ("@end", cycle.PeriodEnd));
        return await command.ExecuteScalarAsync(cancellationToken) is long start ? start : null;
    }

    /// <summary>Inserts a draft with its lines; returns its id.</summary>
    private static async Task<string> InsertDraftAsync(SqliteConnection connection, SqliteTransaction transaction, PricedCycle priced, long now,
        CancellationToken cancellationToken)
    {
        var cycle = priced.Cycle;
        var id = NewId("inv");
        await ExecuteAsync(connection, transaction, """
            INSERT INTO invoices (id, number, status, account_id, subscription_id, api_id, provider_id, plan_id, currency,
              period_start, period_end, billable_calls, base_price_minor, price_per_call_minor, overage_price_per_call_minor,
              monthly_quota, overage_allowed, subtotal_minor, adjustments_minor, total_minor, usage_as_of, computed_at, created_at, quota_used_before)
            VALUES (@id, NULL, 1, @account, @subscription, @api, @provider, @plan, @currency, @start, @end, @billable, @base, @price,
              @overage_price, @quota, @overage_allowed, @subtotal, 0, @subtotal, @as_of, @now, @now, @used_before);
            """, cancellationToken, ("@id", id), ("@account", cycle.AccountId), ("@subscription", cycle.SubscriptionId),
            ("@api", cycle.ApiId), ("@provider", cycle.ProviderId), ("@plan", cycle.PlanId), ("@currency", priced.Terms.Currency),
            ("@start", cycle.PeriodStart), ("@end", cycle.PeriodEnd), ("@billable", cycle.BillableCalls),
            ("@base", priced.Terms.BasePriceMinor), ("@price", priced.Terms.PricePerCallMinor),
            ("@overage_price", priced.Terms.OveragePricePerCallMinor), ("@quota", priced.Terms.MonthlyQuota),
            ("@overage_allowed", priced.Terms.OverageAllowed ? 1 : 0), ("@subtotal", priced.SubtotalMinor),
            ("@as_of", cycle.UsageAsOf), ("@now", now), ("@used_before", priced.Terms.QuotaUsedBefore));
        await WriteLinesAsync(connection, transaction, id, priced.Lines, cancellationToken);
        return id;
    }

    /// <summary>
    /// Finalises a draft from the recount: final lines, every pending adjustment of the account in the
    /// invoice's currency, a gapless number, the audit row. Lines are written while the invoice is
    /// still a draft and the status flips last (the triggers refuse line changes afterwards).
    /// </summary>
    private static async Task FinalizeAsync(SqliteConnection connection, SqliteTransaction transaction, InvoiceState invoice, PricedCycle priced,
        long now, ApplyResult result, CancellationToken cancellationToken)
    {
        var pending = new List<(string Id, long Amount, string Reason)>();
        await using (var command = Command(connection, transaction, """
            SELECT id, amount_minor, reason FROM adjustments
            WHERE account_id = @account AND currency = @currency AND applied_invoice_id IS NULL AND created_at <= @now
            ORDER BY created_at, id;
            """, ("@account", invoice.AccountId), ("@currency", invoice.Currency), ("@now", now)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                pending.Add((reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
            }
        }

        var lines = new List<LineRecord>(priced.Lines);
        lines.AddRange(pending.Select(a => new LineRecord(LineKinds.Adjustment, (a.Amount < 0 ? "Credit: " : "Debit: ") + a.Reason, 1, a.Amount, a.Amount, a.Id)));
        long adjustments, total;
        try
        {
            adjustments = Pricing.Sum(lines.Where(l => l.Kind == LineKinds.Adjustment));
            total = checked(priced.SubtotalMinor + adjustments);
        }
        catch (OverflowException)
        {
            result.Overflowed.Add((priced.Cycle.SubscriptionId, priced.Cycle.PeriodStart));
            return;
        }

        await ExecuteAsync(connection, transaction, "DELETE FROM invoice_lines WHERE invoice_id = @id;", cancellationToken, ("@id", invoice.Id));
        await WriteLinesAsync(connection, transaction, invoice.Id, lines, cancellationToken);
        long sequence;
        await using (var command = Command(connection, transaction, "UPDATE sequences SET value = value + 1 WHERE name = 'invoice_number' RETURNING value;"))
        {
            sequence = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
        }
        var number = "INV-" + sequence.ToString("D6", CultureInfo.InvariantCulture);
        var updated = await ExecuteAsync(connection, transaction, """
            UPDATE invoices SET status = 2, number = @number, finalized_at = @now, billable_calls = @billable, subtotal_minor = @subtotal,
              adjustments_minor = @adjustments, total_minor = @total, quota_used_before = @used_before, usage_as_of = @as_of, computed_at = @now
            WHERE id = @id AND status = 1;
            """, cancellationToken, ("@id", invoice.Id), ("@number", number), ("@now", now), ("@billable", priced.Cycle.BillableCalls),
            ("@subtotal", priced.SubtotalMinor), ("@adjustments", adjustments), ("@total", total), ("@used_before", priced.Terms.QuotaUsedBefore),
            ("@as_of", priced.Cycle.UsageAsOf));
        if (updated != 1)
        {
            throw new InvalidOperationException($"Invoice {invoice.Id} was not a draft any more inside its finalising transaction.");
        }
        foreach (var adjustment in pending)
        {
            await ExecuteAsync(connection, transaction, "UPDATE adjustments SET applied_invoice_id = @invoice, applied_at = @now WHERE id = @id AND applied_invoice_id IS NULL;",
                cancellationToken, ("@invoice", invoice.Id), ("@now", now), ("@id", adjustment.Id));
        }
        await AuditAsync(connection, transaction, now, SystemActor, "invoice.finalized", invoice.AccountId, invoice.Id, null, invoice.Currency, total,
            string.Create(CultureInfo.InvariantCulture,
                $"number={number}; billable_calls={priced.Cycle.BillableCalls}; subtotal_minor={priced.SubtotalMinor}; adjustments_applied={pending.Count}"),
            cancellationToken);
        result.Finalized.Add(new FinalizedInvoice(invoice.Id, number, invoice.AccountId, total, invoice.Currency));
    }

    /// <summary>
    /// Compares a finalised invoice with the recount: what it should have billed for the recounted
    /// calls (with its own stored terms) against what it billed plus earlier reconciliation
    /// adjustments of it. Any difference becomes one adjustment; a second run finds none.
    /// </summary>
    private static async Task ReconcileFinalizedAsync(SqliteConnection connection, SqliteTransaction transaction, InvoiceState invoice,
        long recountedCalls, string runId, long now, ApplyResult result, CancellationToken cancellationToken)
    {
        long priorAmount, priorCalls;
        await using (var command = Command(connection, transaction, """
            SELECT coalesce(sum(amount_minor), 0), coalesce(sum(billable_calls_delta), 0)
            FROM adjustments WHERE invoice_id = @invoice AND source = 2;
            """, ("@invoice", invoice.Id)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            priorAmount = reader.GetInt64(0);
            priorCalls = reader.GetInt64(1);
        }

        long difference, callsDelta;
        try
        {
            var expected = Pricing.Price(invoice.Terms, recountedCalls).SubtotalMinor;
            difference = checked(expected - checked(invoice.SubtotalMinor + priorAmount));
            callsDelta = checked(recountedCalls - checked(invoice.BillableCalls + priorCalls));
        }
        catch (OverflowException)
        {
            result.Overflowed.Add((invoice.SubscriptionId, invoice.PeriodStart));
            return;
        }
        if (callsDelta != 0)
        {
            result.Differences++;
        }
        if (difference == 0)
        {
            return;
        }

        var reason = string.Create(CultureInfo.InvariantCulture,
            $"Reconciliation: {recountedCalls} billable calls recounted from the raw events for invoice period starting {DateTimeOffset.FromUnixTimeMilliseconds(invoice.PeriodStart):u}, {checked(invoice.BillableCalls + priorCalls)} billed so far");
        var adjustment = new AdjustmentRecord(NewId("adj"), invoice.AccountId, difference, invoice.Currency, reason, 2, invoice.Id, invoice.SubscriptionId, invoice.ApiId,
            runId, SystemActor, now, null, null);
        await ExecuteAsync(connection, transaction, """
            INSERT INTO adjustments (id, account_id, amount_minor, currency, reason, source, invoice_id, subscription_id, api_id, provider_id,
              period_start, billable_calls_delta, reconciliation_run_id, request_id, created_by, created_at)
            SELECT @id, account_id, @amount, currency, @reason, 2, id, subscription_id, api_id, provider_id, period_start, @calls, @run, NULL, @by, @now
            FROM invoices WHERE id = @invoice;
            """, cancellationToken, ("@id", adjustment.Id), ("@amount", difference), ("@reason", reason), ("@calls", callsDelta), ("@run", runId),
            ("@by", SystemActor), ("@now", now), ("@invoice", invoice.Id));
        await AuditAsync(connection, transaction, now, SystemActor, "adjustment.created", invoice.AccountId, invoice.Id, adjustment.Id, invoice.Currency,
            difference, reason, cancellationToken);
        result.Adjustments.Add((adjustment, callsDelta));
    }

    private static async Task WriteLinesAsync(SqliteConnection connection, SqliteTransaction transaction, string invoiceId, IReadOnlyList<LineRecord> lines,
        CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
        {
            return;
        }
        // One prepared statement for the batch, rebound per row.
        await using var command = Command(connection, transaction, """
            INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity, unit_price_minor, amount_minor, adjustment_id)
            VALUES (@invoice, @position, @kind, @description, @quantity, @unit, @amount, @adjustment);
            """, ("@invoice", invoiceId), ("@position", 0), ("@kind", 0), ("@description", ""), ("@quantity", 0L), ("@unit", 0L), ("@amount", 0L),
            ("@adjustment", null));
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            command.Parameters["@position"].Value = i + 1;
            command.Parameters["@kind"].Value = (int)line.Kind;
            command.Parameters["@description"].Value = line.Description;
            command.Parameters["@quantity"].Value = line.Quantity;
            command.Parameters["@unit"].Value = line.UnitPriceMinor;
            command.Parameters["@amount"].Value = line.AmountMinor;
            command.Parameters["@adjustment"].Value = (object?)line.AdjustmentId ?? DBNull.Value;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static async Task<InvoiceState?> FindStateAsync(SqliteConnection connection, SqliteTransaction transaction, string subscriptionId, long periodStart,
        CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, """
            SELECT id, status, account_id, currency, billable_calls, subtotal_minor, usage_as_of,
              base_price_minor, price_per_call_minor, overage_price_per_call_minor, monthly_quota, overage_allowed, currency, quota_used_before,
              api_id, provider_id, period_start
            FROM invoices WHERE subscription_id = @subscription AND period_start = @start;
            """, ("@subscription", subscriptionId), ("@start", periodStart));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new InvoiceState(reader.GetString(0), subscriptionId, reader.GetInt32(1) == Final, reader.GetString(2), reader.GetString(3), reader.GetInt64(4),
            reader.GetInt64(5), reader.GetInt64(6), ReadTerms(reader, 7), reader.GetString(14), reader.GetString(15), reader.GetInt64(16));
    }

    private sealed record InvoiceState(string Id, string SubscriptionId, bool Finalized, string AccountId, string Currency, long BillableCalls, long SubtotalMinor,
        long UsageAsOf, Terms Terms, string ApiId, string ProviderId, long PeriodStart);
}
