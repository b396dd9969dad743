using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Veil.Billing.Data;

/// <summary>Why a manual adjustment was not written.</summary>
public enum AdjustmentRefusal
{
    None,
    InvoiceNotFound,
    AccountMismatch,
    CurrencyMismatch,
    RequestIdReused,
}

/// <summary>Why an invoice could not be marked paid.</summary>
public enum PaymentRefusal
{
    None,
    NotFound,
    NotFinalized,
}

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

        var adjustment = new AdjustmentRecord(NewId("adj"), accountId!, amountMinor, currency!, reason, 1, invoiceId, subscriptionId, apiId, null, actor, now,
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

    /// <summary>Records the payment of a finalised invoice (idempotent: a paid invoice is returned unchanged).</summary>
    public async Task<(InvoiceRecord? Invoice, PaymentRefusal Refusal, bool Changed)> MarkPaidAsync(string invoiceId, string reference, string actor, long now,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var invoice = (await ReadInvoicesAsync(connection, transaction, $"""
            SELECT {InvoiceColumns} FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id WHERE i.id = @id;
            """, cancellationToken, ("@id", invoiceId))).SingleOrDefault();
        if (invoice is null)
        {
            return (null, PaymentRefusal.NotFound, false);
        }
        if (!invoice.Finalized)
        {
            return (invoice, PaymentRefusal.NotFinalized, false);
        }
        if (invoice.Payment is not null)
        {
            return (invoice, PaymentRefusal.None, false);
        }
        await ExecuteAsync(connection, transaction, """
            INSERT INTO payments (invoice_id, amount_minor, reference, paid_by, paid_at) VALUES (@id, @amount, @reference, @by, @now);
            """, cancellationToken, ("@id", invoiceId), ("@amount", invoice.TotalMinor), ("@reference", reference), ("@by", actor), ("@now", now));
        await AuditAsync(connection, transaction, now, actor, "invoice.paid", invoice.AccountId, invoice.Id, null, invoice.Currency, invoice.TotalMinor,
            reference.Length == 0 ? $"number={invoice.Number}" : $"number={invoice.Number}; reference={reference}", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (invoice with { Payment = new PaymentRecord(invoice.TotalMinor, reference, actor, now) }, PaymentRefusal.None, true);
    }

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

    /// <summary>Starts recording a reconciliation run.</summary>
    public async Task StartRunAsync(string runId, int trigger, string requestedBy, long now, long windowStart, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction, """
            INSERT INTO reconciliation_runs (id, trigger_kind, requested_by, status, started_at, window_start) VALUES (@id, @trigger, @by, 1, @now, @window);
            """, cancellationToken, ("@id", runId), ("@trigger", trigger), ("@by", requestedBy), ("@now", now), ("@window", windowStart));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Records how a run ended.</summary>
    public async Task FinishRunAsync(string runId, bool succeeded, long now, int invoicesChecked, int differences, int adjustments, string error,
        CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await ExecuteAsync(connection, transaction, """
            UPDATE reconciliation_runs SET status = @status, finished_at = @now, invoices_checked = @checked, differences_found = @differences,
              adjustments_created = @adjustments, error = @error
            WHERE id = @id;
            """, cancellationToken, ("@id", runId), ("@status", succeeded ? 2 : 3), ("@now", now), ("@checked", invoicesChecked),
            ("@differences", differences), ("@adjustments", adjustments), ("@error", error));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Marks runs left running by a previous process as failed; returns how many.</summary>
    public async Task<int> FailInterruptedRunsAsync(long now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        var count = await ExecuteAsync(connection, transaction, """
            UPDATE reconciliation_runs SET status = 3, finished_at = @now, error = 'Interrupted: the billing process stopped during the run.'
            WHERE status = 1;
            """, cancellationToken, ("@now", now));
        await transaction.CommitAsync(cancellationToken);
        return count;
    }

    /// <summary>Runs newest first after the keyset cursor, or the one run <paramref name="runId"/>.</summary>
    public async Task<IReadOnlyList<RunRecord>> ListRunsAsync(string? runId, int limit, long? afterSeq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var runs = new List<RunRecord>();
        await using (var command = Command(connection, null, """
            SELECT id, trigger_kind, requested_by, status, started_at, finished_at, window_start, invoices_checked, differences_found,
              adjustments_created, error, rowid
            FROM reconciliation_runs
            WHERE (@id IS NULL OR id = @id) AND (@after IS NULL OR rowid < @after)
            ORDER BY rowid DESC LIMIT @limit;
            """, ("@id", runId), ("@after", afterSeq), ("@limit", limit)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                runs.Add(new RunRecord(reader.GetString(0), reader.GetInt32(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4),
                    reader.IsDBNull(5) ? null : reader.GetInt64(5), reader.GetInt64(6), reader.GetInt32(7), reader.GetInt32(8), reader.GetInt32(9),
                    reader.GetString(10), [], reader.GetInt64(11)));
            }
        }
        if (runs.Count == 0)
        {
            return runs;
        }
        var adjusted = runs.ToDictionary(r => r.Id, _ => new List<(string, long)>());
        var names = runs.Select((_, i) => "@r" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        await using (var command = Command(connection, null, $"""
            SELECT reconciliation_run_id, currency, sum(amount_minor) FROM adjustments
            WHERE reconciliation_run_id IN ({string.Join(", ", names)})
            GROUP BY reconciliation_run_id, currency ORDER BY currency;
            """, runs.Select((r, i) => (names[i], (object?)r.Id)).ToArray()))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                adjusted[reader.GetString(0)].Add((reader.GetString(1), reader.GetInt64(2)));
            }
        }
        return runs.Select(r => r with { Adjusted = adjusted[r.Id] }).ToList();
    }

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

    /// <summary>
    /// Revenue of the APIs of <paramref name="providerId"/> (null: every provider), optionally one
    /// API, over invoices whose period started in [start, end): base fees and calls per invoice
    /// (final when finalised, else draft), plus adjustments tied to an API's invoices (always final,
    /// in the corrected invoice's month). Grouped by API, month (UTC), currency and finality.
    /// </summary>
    public async Task<IReadOnlyList<RevenueRecord>> RevenueAsync(string? providerId, string? apiId, long start, long end, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = Command(connection, null, """
            SELECT api_id, currency, strftime('%Y-%m', period_start / 1000, 'unixepoch') AS month, final,
              sum(amount), sum(calls), count(invoice_id)
            FROM (
              SELECT api_id, currency, period_start, status = 2 AS final, subtotal_minor AS amount, billable_calls AS calls, id AS invoice_id
              FROM invoices
              WHERE period_start >= @start AND period_start < @end
                AND (@provider IS NULL OR provider_id = @provider) AND (@api IS NULL OR api_id = @api)
              UNION ALL
              SELECT api_id, currency, period_start, 1, amount_minor, 0, NULL
              FROM adjustments
              WHERE provider_id IS NOT NULL AND period_start >= @start AND period_start < @end
                AND (@provider IS NULL OR provider_id = @provider) AND (@api IS NULL OR api_id = @api))
            GROUP BY api_id, month, currency, final
            ORDER BY api_id, month, currency, final DESC;
            """, ("@provider", providerId), ("@api", apiId), ("@start", start), ("@end", end));
        var rows = new List<RevenueRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RevenueRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3) == 1, reader.GetInt64(4),
                reader.GetInt64(5), reader.GetInt32(6)));
        }
        return rows;
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
}
