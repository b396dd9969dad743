using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;

namespace Veil.Billing.Data;

/// <summary>A credit (negative amount) or debit (positive amount), as stored.</summary>
public sealed record AdjustmentRecord(
    string Id, string AccountId, long AmountMinor, string Currency, string Reason, int Source, string? InvoiceId,
    string? SubscriptionId, string? ApiId, string? ReconciliationRunId, string CreatedBy, long CreatedAt,
    string? AppliedInvoiceId, long? AppliedAt, long Seq = 0);

/// <summary>Why a manual adjustment was not written.</summary>
public enum AdjustmentRefusal
{
    None,
    InvoiceNotFound,
    AccountMismatch,
    CurrencyMismatch,
    RequestIdReused,
}

// Adjustments: manual credits and debits, and the list of every adjustment (reconciliation writes its own in
// BillingStore.Reconciliation.cs; finalisation applies pending ones in BillingStore.Finalization.cs).
public sealed partial class BillingStore
{
    /// <summary>
    /// Writes a manual credit (negative) or debit (positive) and its audit row. With a request id
    /// the same request returns the first adjustment (<c>Replayed</c>) instead of a second one.
    /// </summary>
    public async Task<(AdjustmentRecord? Adjustment, AdjustmentRefusal Refusal, bool Replayed)> CreateAdjustmentAsync(string? accountId, string? invoiceId,
        long amountMinor, string? currency, string reason, string? requestId, string actor, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();

        string? subscriptionId = null, apiId = null, providerId = null;
        long? periodStart = null;
        if (invoiceId is not null)
        {
            await using var command = Command(connection, transaction,
                "SELECT account_id, currency, subscription_id, api_id, provider_id, period_start FROM invoices WHERE id = @id;", ("@id", invoiceId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return (null, AdjustmentRefusal.InvoiceNotFound, false);
            }
            if (accountId is not null && accountId != reader.GetString(0))
            {
                return (null, AdjustmentRefusal.AccountMismatch, false);
            }
            if (currency is not null && currency != reader.GetString(1))
            {
                return (null, AdjustmentRefusal.CurrencyMismatch, false);
            }
            accountId = reader.GetString(0);
            currency = reader.GetString(1);
            subscriptionId = reader.GetString(2);
            apiId = reader.GetString(3);
            providerId = reader.GetString(4);
            periodStart = reader.GetInt64(5);
        }

        if (requestId is not null)
        {
            var previous = await ReadAdjustmentsAsync(connection, transaction,
                $"SELECT {AdjustmentColumns} FROM adjustments a WHERE a.created_by = @by AND a.request_id = @request;", cancellationToken,
                ("@by", actor), ("@request", requestId));
            if (previous.SingleOrDefault() is { } first)
            {
                var same = first.AccountId == accountId && first.AmountMinor == amountMinor && first.Currency == currency &&
                    first.InvoiceId == invoiceId && first.Reason == reason;
                return same ? (first, AdjustmentRefusal.None, true) : (null, AdjustmentRefusal.RequestIdReused, false);
            }
        }

        var adjustment = new AdjustmentRecord(ResourceIds.New("adj"), accountId!, amountMinor, currency!, reason, 1, invoiceId, subscriptionId, apiId, null, actor, now,
            null, null);
        await ExecuteAsync(connection, transaction, """
            INSERT INTO adjustments (id, account_id, amount_minor, currency, reason, source, invoice_id, subscription_id, api_id, provider_id,
              period_start, billable_calls_delta, reconciliation_run_id, request_id, created_by, created_at)
            VALUES (@id, @account, @amount, @currency, @reason, 1, @invoice, @subscription, @api, @provider, @start, NULL, NULL, @request, @by, @now);
            """, cancellationToken, ("@id", adjustment.Id), ("@account", accountId), ("@amount", amountMinor), ("@currency", currency),
            ("@reason", reason), ("@invoice", invoiceId), ("@subscription", subscriptionId), ("@api", apiId), ("@provider", providerId),
            ("@start", periodStart), ("@request", requestId), ("@by", actor), ("@now", now));
        await AuditAsync(connection, transaction, now, actor, "adjustment.created", accountId!, invoiceId, adjustment.Id, currency, amountMinor, reason,
            cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (adjustment, AdjustmentRefusal.None, false);
    }

    /// <summary>Adjustments newest first, optionally of one account and/or referring to or applied to one invoice.</summary>
    public async Task<IReadOnlyList<AdjustmentRecord>> ListAdjustmentsAsync(string? accountId, string? invoiceId, int limit, long? afterSeq,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await ReadAdjustmentsAsync(connection, null, $"""
            SELECT {AdjustmentColumns} FROM adjustments a
            WHERE (@account IS NULL OR a.account_id = @account)
              AND (@invoice IS NULL OR a.invoice_id = @invoice OR a.applied_invoice_id = @invoice)
              AND (@after IS NULL OR a.rowid < @after)
            ORDER BY a.rowid DESC LIMIT @limit;
            """, cancellationToken, ("@account", accountId), ("@invoice", invoiceId), ("@after", afterSeq), ("@limit", limit));
    }

    private static async Task<List<AdjustmentRecord>> ReadAdjustmentsAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var rows = new List<AdjustmentRecord>();
        await using var command = Command(connection, transaction, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(ReadAdjustment(reader));
        }
        return rows;
    }

    private const string AdjustmentColumns = """
        a.id, a.account_id, a.amount_minor, a.currency, a.reason, a.source, a.invoice_id, a.subscription_id, a.api_id,
        a.reconciliation_run_id, a.created_by, a.created_at, a.applied_invoice_id, a.applied_at, a.rowid
        """;

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
}
