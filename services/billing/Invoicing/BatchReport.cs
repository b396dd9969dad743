using System.Collections.Concurrent;
using Veil.Billing.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Logs and counts what a batch written to the store did (finalised invoices, reconciliation
/// adjustments, overflowed amounts, misaligned cycles), for every job. One per process, so a
/// misaligned subscription is logged once whichever job finds it.
/// </summary>
public sealed class BatchReport(BillingMetrics metrics, ILogger<BatchReport> logger)
{
    private readonly ConcurrentDictionary<string, byte> _misalignedLogged = new(StringComparer.Ordinal);

    /// <summary>Reports one <see cref="BillingStore.ApplyAsync"/> result of <paramref name="job"/>.</summary>
    public void Applied(ApplyResult result, string job)
    {
        foreach (var subscriptionId in result.Misaligned)
        {
            Misaligned(subscriptionId, job);
        }
        foreach (var (subscriptionId, periodStart) in result.Overflowed)
        {
            metrics.Failed(job, "overflow");
            BillingLog.AmountOverflow(logger, subscriptionId, periodStart);
        }
        foreach (var invoice in result.Finalized)
        {
            BillingLog.InvoiceFinalized(logger, invoice.Id, invoice.Number, invoice.AccountId, invoice.TotalMinor, invoice.Currency);
        }
        metrics.Finalized(result.Finalized.Count);
        foreach (var (adjustment, calls) in result.Adjustments)
        {
            metrics.AdjustmentWritten("reconciliation");
            BillingLog.ReconciliationAdjusted(logger, adjustment.InvoiceId!, adjustment.AmountMinor, adjustment.Currency, calls);
        }
    }

    /// <summary>Usage's cycles of a subscription do not start where its own periods do (logged once per subscription).</summary>
    public void Misaligned(string subscriptionId, string job)
    {
        if (_misalignedLogged.TryAdd(subscriptionId, 0))
        {
            metrics.Failed(job, "cycle_misaligned");
            BillingLog.CycleMisaligned(logger, subscriptionId);
        }
    }
}
