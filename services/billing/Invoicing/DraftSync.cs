using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Billing.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Keeps drafts up to date with usage's counters. Two entry points:
/// <list type="bullet">
/// <item><see cref="SyncAsync"/>, the draft-sync job's tick (under the <see cref="JobGate"/>): drafts
/// from usage's counters for every cycle after the watermark, <see cref="IdleDrafts"/> for the
/// periods of every subscription that usage has no call in, then <see cref="Finalization"/> of the
/// due drafts from a recount, then the watermark moves;</item>
/// <item><see cref="RefreshDraftAsync"/>: one draft brought up to date for a read, never failing it
/// (and never waiting for the gate).</item>
/// </list>
/// </summary>
/// <param name="usageCycles">
/// Called per sync and per read rather than held: <see cref="UsageCycles"/> is transient like the
/// typed gRPC client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class DraftSync(BillingStore store, Func<UsageCycles> usageCycles, CyclePricer pricer, IdleDrafts idleDrafts, Finalization finalization,
    BatchReport report, JobGate gate, TimeProvider time, IOptionsMonitor<BillingOptions> options, BillingMetrics metrics, ILogger<DraftSync> logger)
{
    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Creates and updates drafts from usage's counters, creates drafts for the periods of every
    /// subscription in which usage has no call, then finalises the drafts whose cycle ended more
    /// than the grace period ago, from a recount of their raw events. When usage does not answer,
    /// nothing moves and the next tick tries again; when subscriptions does not, the rest goes on
    /// but the watermark holds, so no period without usage is passed over.
    /// </summary>
    public Task SyncAsync(CancellationToken cancellationToken) => gate.RunAsync(SyncCoreAsync, cancellationToken);

    /// <summary>
    /// The draft brought up to date with usage's counters when usage answers within
    /// <see cref="BillingOptions.ReadRefreshTimeout"/>; otherwise the last computed state. Reads never
    /// fail because usage is down.
    /// </summary>
    public async Task<InvoiceRecord> RefreshDraftAsync(InvoiceRecord invoice, CancellationToken cancellationToken)
    {
        if (invoice.Finalized)
        {
            return invoice;
        }
        try
        {
            var usage = usageCycles();
            var found = await usage.FindAsync(invoice.SubscriptionId, invoice.PeriodStart, invoice.PeriodEnd, recount: false,
                options.CurrentValue.ReadRefreshTimeout, cancellationToken);
            if (found is not { } cycle ||
                (cycle.Cycle.BillableCalls == invoice.BillableCalls && cycle.Cycle.QuotaUsedBefore == invoice.Terms.QuotaUsedBefore))
            {
                return invoice;
            }
            // The invoice's stored terms are the plan's (plans never change), so no call to subscriptions.
            var terms = invoice.Terms with { QuotaUsedBefore = cycle.Cycle.QuotaUsedBefore };
            var (lines, subtotal) = Pricing.Price(terms, cycle.Cycle.BillableCalls);
            var result = await store.ApplyAsync([new PricedCycle(cycle.Cycle, terms, lines, subtotal)], CountSource.Counters, Now, long.MinValue,
                null, cancellationToken);
            metrics.DraftsChanged(result.Changed);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("read_refresh", "usage_unavailable");
            BillingLog.ReadRefreshSkipped(logger, invoice.Id, ex.StatusCode);
            return invoice;
        }
        catch (OverflowException)
        {
            metrics.Failed("read_refresh", "overflow");
            BillingLog.AmountOverflow(logger, invoice.SubscriptionId, invoice.PeriodStart);
            return invoice;
        }
        return await store.FindInvoiceAsync(invoice.Id, null, cancellationToken) ?? invoice;
    }

    private async Task SyncCoreAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var dueBy = now - (long)options.CurrentValue.FinalizationGrace.TotalMilliseconds;
        var usage = usageCycles();
        var watermark = await store.GetWatermarkAsync(cancellationToken);
        var blockedAt = long.MaxValue;
        int seen = 0, changed = 0, idle = 0, finalized = 0;
        bool listed;
        // Usage's cycles of this sync by subscription: the listing adds periods only where usage has none.
        var cyclesBySubscription = new Dictionary<string, List<(long Start, long End)>>(StringComparer.Ordinal);
        try
        {
            await foreach (var page in usage.PagesAsync(null, watermark, null, recount: false, null, cancellationToken))
            {
                seen += page.Count;
                foreach (var (cycle, _) in page)
                {
                    if (!cyclesBySubscription.TryGetValue(cycle.SubscriptionId, out var cycles))
                    {
                        cyclesBySubscription[cycle.SubscriptionId] = cycles = [];
                    }
                    cycles.Add((cycle.PeriodStart, cycle.PeriodEnd));
                }
                var (priced, blocked) = await pricer.PriceAsync(page, "sync", cancellationToken);
                blockedAt = Math.Min(blockedAt, blocked);
                var result = await store.ApplyAsync(priced, CountSource.Counters, now, long.MinValue, null, cancellationToken);
                changed += result.Created + result.Changed;
                report.Applied(result, "sync");
            }

            (listed, idle) = await idleDrafts.CreateAsync(watermark, now, cyclesBySubscription, cancellationToken);

            (finalized, var finalizationBlockedAt) = await finalization.FinalizeDueAsync(now, dueBy, cancellationToken);
            blockedAt = Math.Min(blockedAt, finalizationBlockedAt);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("sync", "usage_unavailable");
            BillingLog.UsageUnavailable(logger, "draft sync", ex.StatusCode, ex);
            return;
        }

        metrics.DraftsChanged(changed + idle);
        BillingLog.SyncCompleted(logger, seen, changed, idle, finalized, listed);
        if (!listed)
        {
            // Periods without usage after the watermark are not known to be invoiced: list them again next tick.
            return;
        }
        // Next time, list again every cycle that is open, in its grace period, or could not be invoiced.
        await store.AdvanceWatermarkAsync(blockedAt == long.MaxValue ? dueBy : Math.Min(dueBy, blockedAt - 1), cancellationToken);
    }
}
