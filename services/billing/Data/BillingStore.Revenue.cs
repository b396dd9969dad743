namespace Veil.Billing.Data;

/// <summary>One revenue row: an API's amounts in one month of period starts, currency and finality.</summary>
public sealed record RevenueRecord(string ApiId, string Currency, string Month, bool Final, long AmountMinor, long BillableCalls, int Invoices);

// Revenue: providers' amounts per API, month, currency and finality.
public sealed partial class BillingStore
{
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
}
