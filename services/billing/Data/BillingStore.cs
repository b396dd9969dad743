using System.Globalization;
using System.Security.Cryptography;
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

/// <summary>The payment that settled a finalised invoice.</summary>
public sealed record PaymentRecord(long AmountMinor, string Reference, string PaidBy, long PaidAt);

/// <summary>An invoice with its lines and payment, as stored.</summary>
public sealed record InvoiceRecord(
    string Id, string? Number, bool Finalized, string AccountId, string SubscriptionId, string ApiId, string ProviderId, string PlanId,
    long PeriodStart, long PeriodEnd, long BillableCalls, Terms Terms, long SubtotalMinor, long AdjustmentsMinor, long TotalMinor,
    long UsageAsOf, long ComputedAt, long CreatedAt, long? FinalizedAt, PaymentRecord? Payment, IReadOnlyList<LineRecord> Lines)
{
    public string Currency => Terms.Currency;
}

/// <summary>A credit (negative amount) or debit (positive amount), as stored.</summary>
public sealed record AdjustmentRecord(
    string Id, string AccountId, long AmountMinor, string Currency, string Reason, int Source, string? InvoiceId,
    string? SubscriptionId, string? ApiId, string? ReconciliationRunId, string CreatedBy, long CreatedAt,
    string? AppliedInvoiceId, long? AppliedAt, long Seq = 0);

/// <summary>A manual credit hold.</summary>
public sealed record HoldRecord(string AccountId, string Reason, string PlacedBy, long PlacedAt);

/// <summary>One row of the money audit log.</summary>
public sealed record AuditRecord(long Id, long At, string Actor, string Action, string AccountId, string? InvoiceId,
    string? AdjustmentId, string? Currency, long? AmountMinor, string Detail);

/// <summary>A reconciliation run with its net adjusted amounts per currency.</summary>
public sealed record RunRecord(string Id, int Trigger, string RequestedBy, int Status, long StartedAt, long? FinishedAt, long WindowStart,
    int InvoicesChecked, int DifferencesFound, int AdjustmentsCreated, string Error, IReadOnlyList<(string Currency, long AmountMinor)> Adjusted, long Seq);

/// <summary>An account's position in one currency.</summary>
public sealed record BalanceRecord(string Currency, long UnpaidMinor, int UnpaidInvoices, long PendingAdjustmentsMinor);

/// <summary>One revenue row: an API's amounts in one month of period starts, currency and finality.</summary>
public sealed record RevenueRecord(string ApiId, string Currency, string Month, bool Final, long AmountMinor, long BillableCalls, int Invoices);

/// <summary>
/// Billing's SQLite store. Visibility is part of the queries (a consumer's filter is its own
/// account), every write is one immediate transaction, and the schema's triggers refuse any change
/// to finalised invoices, payments, applied adjustments and the audit log whatever this code does.
/// </summary>
public sealed partial class BillingStore(SqliteDatabase database)
{
    /// <summary>The actor recorded for work nobody asked for (finalisation, reconciliation).</summary>
    public const string SystemActor = "system";

    private const string IdAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private const int Draft = 1;
    private const int Final = 2;

    private const string InvoiceColumns = """
        i.id, i.number, i.status, i.account_id, i.subscription_id, i.api_id, i.provider_id, i.plan_id, i.currency,
        i.period_start, i.period_end, i.billable_calls, i.base_price_minor, i.price_per_call_minor, i.overage_price_per_call_minor,
        i.monthly_quota, i.overage_allowed, i.subtotal_minor, i.adjustments_minor, i.total_minor, i.usage_as_of, i.computed_at,
        i.created_at, i.finalized_at, p.amount_minor, p.reference, p.paid_by, p.paid_at, i.quota_used_before
        """;

    private const string AdjustmentColumns = """
        a.id, a.account_id, a.amount_minor, a.currency, a.reason, a.source, a.invoice_id, a.subscription_id, a.api_id,
        a.reconciliation_run_id, a.created_by, a.created_at, a.applied_invoice_id, a.applied_at, a.rowid
        """;

    public static string NewId(string prefix) => prefix + "_" + RandomNumberGenerator.GetString(IdAlphabet, 20);

    /// <summary>The invoice when <paramref name="accountId"/> is null (staff) or owns it; else null.</summary>
    public async Task<InvoiceRecord?> FindInvoiceAsync(string invoiceId, string? accountId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var invoices = await ReadInvoicesAsync(connection, null, $"""
            SELECT {InvoiceColumns} FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id
            WHERE i.id = @id AND (@account IS NULL OR i.account_id = @account);
            """, cancellationToken, ("@id", invoiceId), ("@account", accountId));
        return invoices.SingleOrDefault();
    }

    /// <summary>
    /// Invoices newest period first after the keyset cursor. <paramref name="status"/>: 0 any,
    /// 1 draft, 2 finalised and unpaid, 3 paid.
    /// </summary>
    public async Task<IReadOnlyList<InvoiceRecord>> ListInvoicesAsync(string? accountId, string? subscriptionId, int status, int limit,
        (long PeriodStart, string Id)? after, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await ReadInvoicesAsync(connection, null, $"""
            SELECT {InvoiceColumns} FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id
            WHERE (@account IS NULL OR i.account_id = @account)
              AND (@subscription IS NULL OR i.subscription_id = @subscription)
              AND (@status = 0 OR (@status = 1 AND i.status = 1) OR (@status = 2 AND i.status = 2 AND p.invoice_id IS NULL)
                   OR (@status = 3 AND p.invoice_id IS NOT NULL))
              AND (@after_start IS NULL OR i.period_start < @after_start OR (i.period_start = @after_start AND i.id < @after_id))
            ORDER BY i.period_start DESC, i.id DESC
            LIMIT @limit;
            """, cancellationToken, ("@account", accountId), ("@subscription", subscriptionId), ("@status", status),
            ("@after_start", after?.PeriodStart), ("@after_id", after?.Id), ("@limit", limit));
    }

    /// <summary>Drafts whose cycle ended at or before <paramref name="endedBy"/>, oldest first: due for finalisation.</summary>
    public async Task<IReadOnlyList<(string Id, string SubscriptionId, long PeriodStart, long PeriodEnd, long BillableCalls)>> ListDueDraftsAsync(long endedBy,
        int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT id, subscription_id, period_start, period_end, billable_calls FROM invoices
            WHERE status = 1 AND period_end <= @ended_by
            ORDER BY period_end, id LIMIT @limit;
            """, ("@ended_by", endedBy), ("@limit", limit));
        var due = new List<(string, string, long, long, long)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        }
        return due;
    }

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

    private static async Task<List<InvoiceRecord>> ReadInvoicesAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = new List<InvoiceRecord>();
        await using (var command = Command(connection, transaction, sql, parameters))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(ReadInvoice(reader));
            }
        }
        if (rows.Count == 0)
        {
            return rows;
        }

        // The page's lines in one query.
        var lines = rows.ToDictionary(r => r.Id, _ => new List<LineRecord>());
        var names = rows.Select((_, i) => "@i" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        await using (var command = Command(connection, transaction, $"""
            SELECT invoice_id, kind, description, quantity, unit_price_minor, amount_minor, adjustment_id
            FROM invoice_lines WHERE invoice_id IN ({string.Join(", ", names)}) ORDER BY invoice_id, position;
            """, rows.Select((r, i) => (names[i], (object?)r.Id)).ToArray()))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                lines[reader.GetString(0)].Add(new LineRecord((LineKinds)reader.GetInt32(1), reader.GetString(2), reader.GetInt64(3),
                    reader.GetInt64(4), reader.GetInt64(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
            }
        }
        return rows.Select(r => r with { Lines = lines[r.Id] }).ToList();
    }

    private static InvoiceRecord ReadInvoice(SqliteDataReader r) => new(
        Id: r.GetString(0),
        Number: r.IsDBNull(1) ? null : r.GetString(1),
        Finalized: r.GetInt32(2) == Final,
        AccountId: r.GetString(3),
        SubscriptionId: r.GetString(4),
        ApiId: r.GetString(5),
        ProviderId: r.GetString(6),
        PlanId: r.GetString(7),
        PeriodStart: r.GetInt64(9),
        PeriodEnd: r.GetInt64(10),
        BillableCalls: r.GetInt64(11),
        Terms: new Terms(r.GetInt64(12), r.GetInt64(13), r.GetInt64(14), r.GetInt64(15), r.GetInt64(16) == 1, r.GetString(8), r.GetInt64(28)),
        SubtotalMinor: r.GetInt64(17),
        AdjustmentsMinor: r.GetInt64(18),
        TotalMinor: r.GetInt64(19),
        UsageAsOf: r.GetInt64(20),
        ComputedAt: r.GetInt64(21),
        CreatedAt: r.GetInt64(22),
        FinalizedAt: r.IsDBNull(23) ? null : r.GetInt64(23),
        Payment: r.IsDBNull(24) ? null : new PaymentRecord(r.GetInt64(24), r.GetString(25), r.GetString(26), r.GetInt64(27)),
        Lines: []);

    private static Terms ReadTerms(SqliteDataReader r, int at) =>
        new(r.GetInt64(at), r.GetInt64(at + 1), r.GetInt64(at + 2), r.GetInt64(at + 3), r.GetInt64(at + 4) == 1, r.GetString(at + 5), r.GetInt64(at + 6));

    private static AdjustmentRecord ReadAdjustment(SqliteDataReader r) => new(
        Id: r.GetString(0),
        AccountId: r.GetString(1),
        AmountMinor: r.GetInt64(2),
        Currency: r.GetString(3),
        Reason: r.GetString(4),
        Source: r.GetInt32(5),
        InvoiceId: NullableString(r, 6),
        SubscriptionId: NullableString(r, 7),
        ApiId: NullableString(r, 8),
        ReconciliationRunId: NullableString(r, 9),
        CreatedBy: r.GetString(10),
        CreatedAt: r.GetInt64(11),
        AppliedInvoiceId: NullableString(r, 12),
        AppliedAt: r.IsDBNull(13) ? null : r.GetInt64(13),
        Seq: r.GetInt64(14));

    private static string? NullableString(SqliteDataReader r, int at) => r.IsDBNull(at) ? null : r.GetString(at);

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    private static async Task<int> ExecuteAsync(SqliteConnection connection, SqliteTransaction transaction, string sql, CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Task AuditAsync(SqliteConnection connection, SqliteTransaction transaction, long at, string actor, string action, string accountId,
        string? invoiceId, string? adjustmentId, string? currency, long? amountMinor, string detail, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, """
            INSERT INTO money_audit (at, actor, action, account_id, invoice_id, adjustment_id, currency, amount_minor, detail)
            VALUES (@at, @actor, @action, @account, @invoice, @adjustment, @currency, @amount, @detail);
            """, cancellationToken, ("@at", at), ("@actor", actor), ("@action", action), ("@account", accountId), ("@invoice", invoiceId),
            ("@adjustment", adjustmentId), ("@currency", currency), ("@amount", amountMinor), ("@detail", detail));
}
