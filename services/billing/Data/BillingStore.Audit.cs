using Microsoft.Data.Sqlite;

namespace Veil.Billing.Data;

/// <summary>One row of the money audit log.</summary>
public sealed record AuditRecord(long Id, long At, string Actor, string Action, string AccountId, string? InvoiceId,
    string? AdjustmentId, string? Currency, long? AmountMinor, string Detail);

// The money audit log: every money write adds its row in the same transaction as the write; staff read it.
public sealed partial class BillingStore
{
    private static Task AuditAsync(SqliteConnection connection, SqliteTransaction transaction, long at, string actor, string action, string accountId,
        string? invoiceId, string? adjustmentId, string? currency, long? amountMinor, string detail, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, """
            INSERT INTO money_audit (at, actor, action, account_id, invoice_id, adjustment_id, currency, amount_minor, detail)
            VALUES (@at, @actor, @action, @account, @invoice, @adjustment, @currency, @amount, @detail);
            """, cancellationToken, ("@at", at), ("@actor", actor), ("@action", action), ("@account", accountId), ("@invoice", invoiceId),
            ("@adjustment", adjustmentId), ("@currency", currency), ("@amount", amountMinor), ("@detail", detail));

    /// <summary>The money audit log newest first, optionally of one account.</summary>
    public async Task<IReadOnlyList<AuditRecord>> ListAuditAsync(string? accountId, int limit, long? afterId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT id, at, actor, action, account_id, invoice_id, adjustment_id, currency, amount_minor, detail FROM money_audit
            WHERE (@account IS NULL OR account_id = @account) AND (@after IS NULL OR id < @after)
            ORDER BY id DESC LIMIT @limit;
            """, ("@account", accountId), ("@after", afterId), ("@limit", limit));
        var entries = new List<AuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            entries.Add(new AuditRecord(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                NullableString(reader, 5), NullableString(reader, 6), NullableString(reader, 7), reader.IsDBNull(8) ? null : reader.GetInt64(8),
                reader.GetString(9)));
        }
        return entries;
    }
}
