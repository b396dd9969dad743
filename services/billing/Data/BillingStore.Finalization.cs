using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Veil.Billing.Data;

/// <summary>An invoice finalised by a batch.</summary>
public sealed record FinalizedInvoice(string Id, string Number, string AccountId, long TotalMinor, string Currency);

// Finalisation: the drafts due for it, and the one transaction that turns a draft into a numbered invoice.
public sealed partial class BillingStore
{
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
}
