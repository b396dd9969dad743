using Grpc.Core;
using Veil.Billing.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Drafts for the periods in which a subscription made no call, from subscriptions' listing
/// (<see cref="SubscriptionPeriods"/>): the base fee is billed whatever the usage. Part of the
/// draft sync (<see cref="DraftSync.SyncAsync"/>), which runs it under the <see cref="JobGate"/>.
/// </summary>
/// <param name="listing">
/// Called once per sync rather than held: <see cref="SubscriptionPeriods"/> is transient like the
/// typed gRPC client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class IdleDrafts(BillingStore store, Func<SubscriptionPeriods> listing, Func<CycleTermsSource> cycleTerms, BatchReport report,
    BillingMetrics metrics, ILogger<IdleDrafts> logger)
{
    // Draft syncs in a row whose subscriptions listing failed; only the sync (under the gate) touches it.
    private int _listingFailures;

    /// <summary>
    /// Drafts for the periods after the watermark, begun by now, of every subscription (active, or
    /// cancelled within them) that usage reported no cycle for (<paramref name="usageCycles"/>: the
    /// sync's cycles by subscription). Returns whether the whole listing was read; when
    /// subscriptions does not answer, this is logged once per outage and the sync's watermark
    /// holds, so the next tick lists them again.
    /// </summary>
    public async Task<(bool Complete, int Created)> CreateAsync(long watermark, long now,
        Dictionary<string, List<(long Start, long End)>> usageCycles, CancellationToken cancellationToken)
    {
        var subscriptions = listing();
        var created = 0;
        try
        {
            await foreach (var page in subscriptions.PagesAsync(watermark - (long)SubscriptionPeriods.LongestCycle.TotalMilliseconds, cancellationToken))
            {
                var inputs = new List<CycleInput>();
                foreach (var subscription in page)
                {
                    usageCycles.TryGetValue(subscription.Id, out var cycles);
                    foreach (var period in SubscriptionPeriods.ToInvoice(subscription.AnchorMs, subscription.CanceledAtMs, Math.Max(watermark, subscription.StartMs), now))
                    {
                        if (cycles is not null && cycles.Any(c => c.Start < period.EndMs && c.End > period.StartMs))
                        {
                            if (!cycles.Any(c => c.Start == period.StartMs))
                            {
                                report.Misaligned(subscription.Id, "sync");
                            }
                            continue;
                        }
                        // Usage reported no cycle overlapping it in this sync: no call so far; later ones update the draft.
                        inputs.Add(new CycleInput(subscription.Id, subscription.AccountId, subscription.ProviderId, subscription.ApiId,
                            subscription.PlanId, period.StartMs, period.EndMs, 0, now));
                    }
                }
                var periods = await PriceAsync(inputs, cancellationToken);
                var result = await store.CreateIdleDraftsAsync(periods, now, cancellationToken);
                created += result.Created;
                foreach (var subscriptionId in result.Misaligned)
                {
                    report.Misaligned(subscriptionId, "sync");
                }
            }
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("sync", "subscriptions_unavailable");
            if (_listingFailures++ == 0)
            {
                BillingLog.SubscriptionsListingUnavailable(logger, ex.StatusCode, ex);
            }
            return (false, created);
        }
        if (_listingFailures > 0)
        {
            BillingLog.SubscriptionsListingBack(logger, _listingFailures);
            _listingFailures = 0;
        }
        return (true, created);
    }

    /// <summary>
    /// Periods without calls priced at zero calls with the terms of the plan version each runs on;
    /// periods that already have an invoice are left out (their draft exists, with its terms) and
    /// need no question to subscriptions.
    /// </summary>
    private async Task<List<PricedCycle>> PriceAsync(List<CycleInput> inputs, CancellationToken cancellationToken)
    {
        var priced = new List<PricedCycle>(inputs.Count);
        if (inputs.Count == 0)
        {
            return priced;
        }
        var stored = await store.FindStoredTermsAsync(inputs.Select(i => (i.SubscriptionId, i.PeriodStart)), cancellationToken);
        var missing = inputs.Where(i => !stored.ContainsKey((i.SubscriptionId, i.PeriodStart))).ToList();
        if (missing.Count == 0)
        {
            return priced;
        }
        var terms = await cycleTerms().GetAsync(missing.Select(i => (i.SubscriptionId, i.PeriodStart)).ToList(), cancellationToken);
        foreach (var input in missing)
        {
            if (!terms.TryGetValue((input.SubscriptionId, input.PeriodStart), out var periodTerms))
            {
                metrics.Failed("sync", "plan_not_found");
                BillingLog.PlanNotFound(logger, input.PlanId, input.SubscriptionId);
                continue;
            }
            var (lines, subtotal) = Pricing.Price(periodTerms, 0);
            priced.Add(new PricedCycle(input, periodTerms, lines, subtotal));
        }
        return priced;
    }
}
