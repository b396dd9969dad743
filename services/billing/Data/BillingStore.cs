using System.Globalization;
using Microsoft.Data.Sqlite;
using Veil.ServiceDefaults.Data;

namespace Veil.Billing.Data;

/// <summary>An invoice with its lines and payment, as stored.</summary>
public sealed record InvoiceRecord(
    string Id, string? Number, bool Finalized, string AccountId, string SubscriptionId, string ApiId, string ProviderId, string PlanId,
    long PeriodStart, long PeriodEnd, long BillableCalls, Terms Terms, long SubtotalMinor, long AdjustmentsMinor, long TotalMinor,
    long UsageAsOf, long ComputedAt, long CreatedAt, long? FinalizedAt, PaymentRecord? Payment, IReadOnlyList<LineRecord> Lines)
{
    public string Currency => Terms.Currency;
}

/// <summary>
/// Billing's SQLite store. Visibility is part of the queries (a consumer's filter is its own
/// account), every write is one immediate transaction, and the schema's triggers refuse any change
/// to finalised invoices, payments, applied adjustments and the audit log whatever this code does.
/// This file holds the invoice reads and the shared plumbing; the partials are named for what they
/// hold: Drafts, Finalization, Reconciliation, Adjustments, Payments, Holds, Audit, Revenue.
/// </summary>
public sealed partial class BillingStore(SqliteDatabase database)
{
    /// <summary>The actor recorded for work nobody asked for (finalisation, reconciliation).</summary>
    public const string SystemActor = "system";

    private const int Draft = 1;
    private const int Final = 2;

    private const string InvoiceColumns = """
        i.id, i.number, i.status, i.account_id, i.subscription_id, i.api_id, i.provider_id, i.plan_id, i.currency,
        i.period_start, i.period_end, i.billable_calls, i.base_price_minor, i.price_per_call_minor, i.overage_price_per_call_minor,
        i.monthly_quota, i.overage_allowed, i.subtotal_minor, i.adjustments_minor, i.total_minor, i.usage_as_of, i.computed_at,
        i.created_at, i.finalized_at, p.amount_minor, p.reference, p.paid_by, p.paid_at, i.quota_used_before
        """;

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
}
