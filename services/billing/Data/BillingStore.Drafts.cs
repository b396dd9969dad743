using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;

namespace Veil.Billing.Data;

/// <summary>
/// Calls of one subscription in one billing cycle, as usage reported them at <see cref="UsageAsOf"/>;
/// <see cref="QuotaUsedBefore"/> is what earlier subscriptions of the consumer to the API counted
/// against the quota of the same cycle (see <see cref="Terms.QuotaUsedBefore"/>).
/// </summary>
public sealed record CycleInput(string SubscriptionId, string AccountId, string ProviderId, string ApiId, string PlanId,
    long PeriodStart, long PeriodEnd, long BillableCalls, long UsageAsOf, long QuotaUsedBefore = 0);

/// <summary>A cycle with the terms it is billed by and its base-fee and call lines.</summary>
public sealed record PricedCycle(CycleInput Cycle, Terms Terms, List<LineRecord> Lines, long SubtotalMinor);

/// <summary>Where the counts of a batch come from, which decides what may be done with them.</summary>
public enum CountSource
{
    /// <summary>Usage's counters: good enough for drafts, never for money that stays.</summary>
    Counters,

    /// <summary>Recounted from the raw events: may finalise due drafts and adjust finalised invoices.</summary>
    Recount,
}

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

// Drafts: a batch of priced cycles applied to the invoices (drafts created and updated; recounts handed on to finalisation and
// reconciliation), drafts for idle periods, the stored terms pricing reuses, and the draft sync's watermark.
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
        var id = ResourceIds.New("inv");
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

    /// <summary>The terms stored on existing invoices of these cycles (plans never change, so they are the plan's).</summary>
    public async Task<Dictionary<(string SubscriptionId, long PeriodStart), Terms>> FindStoredTermsAsync(
        IEnumerable<(string SubscriptionId, long PeriodStart)> cycles, CancellationToken cancellationToken)
    {
        var found = new Dictionary<(string, long), Terms>();
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT base_price_minor, price_per_call_minor, overage_price_per_call_minor, monthly_quota, overage_allowed, currency, quota_used_before
            FROM invoices WHERE subscription_id = @subscription AND period_start = @start;
            """, ("@subscription", ""), ("@start", 0L));
        foreach (var cycle in cycles)
        {
            command.Parameters["@subscription"].Value = cycle.SubscriptionId;
            command.Parameters["@start"].Value = cycle.PeriodStart;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                found[cycle] = ReadTerms(reader, 0);
            }
        }
        return found;
    }

    /// <summary>Where draft sync resumes: cycles ending after this time are listed again.</summary>
    public async Task<long> GetWatermarkAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, "SELECT watermark_ms FROM sync_state WHERE id = 1;");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Moves the watermark forward (never back) to <paramref name="watermarkMs"/>, capped by the earliest remaining draft.</summary>
    public async Task AdvanceWatermarkAsync(long watermarkMs, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        // A draft not finalised yet must be listed again, so the watermark stays below its end.
        await using var command = Command(connection, transaction, """
            UPDATE sync_state SET watermark_ms = max(watermark_ms,
              min(@watermark, coalesce((SELECT min(period_end) - 1 FROM invoices WHERE status = 1), @watermark)))
            WHERE id = 1;
            """, ("@watermark", watermarkMs));
        await command.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }
}
