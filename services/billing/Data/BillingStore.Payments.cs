namespace Veil.Billing.Data;

/// <summary>The payment that settled a finalised invoice.</summary>
public sealed record PaymentRecord(long AmountMinor, string Reference, string PaidBy, long PaidAt);

/// <summary>Why an invoice could not be marked paid.</summary>
public enum PaymentRefusal
{
    None,
    NotFound,
    NotFinalized,
}

// Payments: marking a finalised invoice paid.
public sealed partial class BillingStore
{
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
}
