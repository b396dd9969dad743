using Veil.Billing.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Finalises the drafts whose cycle ended more than <see cref="BillingOptions.FinalizationGrace"/>
/// ago, from a recount of their raw events (the store writes the number, applies pending
/// adjustments and audits: <see cref="BillingStore.ApplyAsync"/>). Part of the draft sync
/// (<see cref="DraftSync.SyncAsync"/>), which runs it under the <see cref="JobGate"/>; a
/// reconciliation run also finalises the due drafts it recounts.
/// </summary>
/// <param name="usageCycles">
/// Called once per run rather than held: <see cref="UsageCycles"/> is transient like the typed gRPC
/// client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class Finalization(BillingStore store, Func<UsageCycles> usageCycles, CyclePricer pricer, BatchReport report, TimeProvider time,
    BillingMetrics metrics, ILogger<Finalization> logger)
{
    private const int DueBatch = 500;

    /// <summary>
    /// Recounts and finalises up to a batch of drafts that ended by <paramref name="dueBy"/>. Returns
    /// how many were finalised and the earliest end of a cycle that must be tried again (subscriptions
    /// did not answer). Usage not answering surfaces as <see cref="Grpc.Core.RpcException"/>.
    /// </summary>
    public async Task<(int Finalized, long BlockedAt)> FinalizeDueAsync(long now, long dueBy, CancellationToken cancellationToken)
    {
        var usage = usageCycles();
        var blockedAt = long.MaxValue;
        var finalized = 0;
        // Finalisation needs the exact count: each due draft is recounted from the raw events.
        foreach (var draft in await store.ListDueDraftsAsync(dueBy, DueBatch, cancellationToken))
        {
            var asOf = time.GetUtcNow().ToUnixTimeMilliseconds();
            var found = await usage.FindAsync(draft.SubscriptionId, draft.PeriodStart, draft.PeriodEnd, recount: true, null, cancellationToken);
            List<PricedCycle> priced;
            if (found is { } cycle)
            {
                (priced, var blocked) = await pricer.PriceAsync([cycle], "finalize", cancellationToken);
                blockedAt = Math.Min(blockedAt, blocked);
            }
            else if (draft.BillableCalls == 0 && await IdleRecountAsync(draft.Id, asOf, cancellationToken) is { } recount)
            {
                // Usage answered and holds no event of the period: the recount is zero calls.
                priced = [recount];
            }
            else
            {
                metrics.Failed("finalize", "cycle_missing");
                BillingLog.CycleMissing(logger, draft.Id, draft.SubscriptionId);
                continue;
            }
            var result = await store.ApplyAsync(priced, CountSource.Recount, now, dueBy, null, cancellationToken);
            finalized += result.Finalized.Count;
            report.Applied(result, "finalize");
        }
        return (finalized, blockedAt);
    }

    /// <summary>A due draft of a period without calls, priced at zero calls with its own stored terms; null when it is gone or final.</summary>
    private async Task<PricedCycle?> IdleRecountAsync(string invoiceId, long asOf, CancellationToken cancellationToken)
    {
        if (await store.FindInvoiceAsync(invoiceId, null, cancellationToken) is not { Finalized: false } invoice)
        {
            return null;
        }
        var input = new CycleInput(invoice.SubscriptionId, invoice.AccountId, invoice.ProviderId, invoice.ApiId, invoice.PlanId, invoice.PeriodStart,
            invoice.PeriodEnd, 0, asOf);
        var (lines, subtotal) = Pricing.Price(invoice.Terms, 0);
        return new PricedCycle(input, invoice.Terms, lines, subtotal);
    }
}
