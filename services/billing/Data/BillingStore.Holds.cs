namespace Veil.Billing.Data;

/// <summary>A manual credit hold.</summary>
public sealed record HoldRecord(string AccountId, string Reason, string PlacedBy, long PlacedAt);

/// <summary>An account's position in one currency.</summary>
public sealed record BalanceRecord(string Currency, long UnpaidMinor, int UnpaidInvoices, long PendingAdjustmentsMinor);

// Credit holds: the manual hold, and the account's standing (hold and balances) that holds are decided on.
public sealed partial class BillingStore
{
    /// <summary>Places (or re-places with a new reason) a manual hold, audited.</summary>
    public async Task<HoldRecord> PlaceHoldAsync(string accountId, string reason, string actor, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction, """
            INSERT INTO credit_holds (account_id, reason, placed_by, placed_at) VALUES (@account, @reason, @by, @now)
            ON CONFLICT (account_id) DO UPDATE SET reason = excluded.reason, placed_by = excluded.placed_by, placed_at = excluded.placed_at;
            """, cancellationToken, ("@account", accountId), ("@reason", reason), ("@by", actor), ("@now", now));
        await AuditAsync(connection, transaction, now, actor, "credit_hold.placed", accountId, null, null, null, null, reason, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new HoldRecord(accountId, reason, actor, now);
    }

    /// <summary>Removes the manual hold; false when there was none (nothing is audited then).</summary>
    public async Task<bool> LiftHoldAsync(string accountId, string reason, string actor, long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var removed = await ExecuteAsync(connection, transaction, "DELETE FROM credit_holds WHERE account_id = @account;", cancellationToken, ("@account", accountId));
        if (removed == 0)
        {
            return false;
        }
        await AuditAsync(connection, transaction, now, actor, "credit_hold.lifted", accountId, null, null, null, null, reason, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The account's manual hold and its balances per currency (unpaid finalised invoices, pending adjustments).</summary>
    public async Task<(HoldRecord? Hold, IReadOnlyList<BalanceRecord> Balances)> GetStandingAsync(string accountId, bool unpaidOnly,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        HoldRecord? hold = null;
        await using (var command = Command(connection, null, "SELECT reason, placed_by, placed_at FROM credit_holds WHERE account_id = @account;", ("@account", accountId)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                hold = new HoldRecord(accountId, reader.GetString(0), reader.GetString(1), reader.GetInt64(2));
            }
        }

        // sum() raises "integer overflow" rather than wrapping, so a balance is exact or an error.
        var sql = unpaidOnly
            ? """
              SELECT i.currency, sum(i.total_minor), count(*), 0 FROM invoices i
              WHERE i.account_id = @account AND i.status = 2 AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id)
              GROUP BY i.currency ORDER BY i.currency;
              """
            : """
              SELECT currency, sum(unpaid), sum(unpaid_count), sum(pending) FROM (
                SELECT i.currency, CASE WHEN i.status = 2 AND p.invoice_id IS NULL THEN i.total_minor ELSE 0 END AS unpaid,
                       CASE WHEN i.status = 2 AND p.invoice_id IS NULL THEN 1 ELSE 0 END AS unpaid_count, 0 AS pending
                FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id WHERE i.account_id = @account
                UNION ALL
                SELECT currency, 0, 0, CASE WHEN applied_invoice_id IS NULL THEN amount_minor ELSE 0 END
                FROM adjustments WHERE account_id = @account)
              GROUP BY currency ORDER BY currency;
              """;
        var balances = new List<BalanceRecord>();
        await using (var command = Command(connection, null, sql, ("@account", accountId)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                balances.Add(new BalanceRecord(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt64(3)));
            }
        }
        return (hold, balances);
    }
}
