using System.Collections.Concurrent;
using Grpc.Core;
using Veil.Billing.Data;
using Veil.Usage.V1;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Prices usage's cycles with <see cref="Pricing"/>: with the terms stored on the cycle's invoice
/// when there is one, else with the terms of the plan version the cycle runs on, from subscriptions
/// (<see cref="CycleTermsSource"/>). One per process, so a snapshot mismatch is logged once per subscription.
/// </summary>
/// <param name="terms">
/// Called once per page rather than held: <see cref="CycleTermsSource"/> is transient like the typed
/// gRPC client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class CyclePricer(BillingStore store, Func<CycleTermsSource> terms, BillingMetrics metrics, ILogger<CyclePricer> logger)
{
    private readonly ConcurrentDictionary<string, byte> _mismatchLogged = new(StringComparer.Ordinal);

    /// <summary>
    /// Prices a page: terms stored on an existing invoice, else the cycle's plan version from
    /// subscriptions. Returns the priced cycles and the earliest end of a cycle that must be tried
    /// again (subscriptions did not answer); cycles that can never be priced (unknown subscription,
    /// overflow) are logged and skipped.
    /// </summary>
    public async Task<(List<PricedCycle> Priced, long BlockedAt)> PriceAsync(IReadOnlyList<(CycleInput Cycle, CycleUsage Raw)> page, string job,
        CancellationToken cancellationToken)
    {
        var stored = await store.FindStoredTermsAsync(page.Select(c => (c.Cycle.SubscriptionId, c.Cycle.PeriodStart)), cancellationToken);
        var missing = page.Select(c => (c.Cycle.SubscriptionId, c.Cycle.PeriodStart)).Where(c => !stored.ContainsKey(c)).ToList();
        var asked = new Dictionary<(string, long), Terms>();
        var blockedAt = long.MaxValue;
        var unavailable = false;
        if (missing.Count > 0)
        {
            try
            {
                asked = await terms().GetAsync(missing, cancellationToken);
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                metrics.Failed(job, "plan_unavailable");
                BillingLog.PlanUnavailable(logger, missing.Count, ex.StatusCode);
                unavailable = true;
            }
        }
        var priced = new List<PricedCycle>(page.Count);
        foreach (var (cycle, raw) in page)
        {
            var key = (cycle.SubscriptionId, cycle.PeriodStart);
            if (!stored.TryGetValue(key, out var cycleTerms) && !asked.TryGetValue(key, out cycleTerms))
            {
                if (unavailable)
                {
                    blockedAt = Math.Min(blockedAt, cycle.PeriodEnd);
                }
                else
                {
                    metrics.Failed(job, "plan_not_found");
                    BillingLog.PlanNotFound(logger, cycle.PlanId, cycle.SubscriptionId);
                }
                continue;
            }
            CheckSnapshot(cycle, raw, cycleTerms);
            // Usage's latest count of what earlier subscriptions used in this cycle (a finalised invoice keeps its own).
            cycleTerms = cycleTerms with { QuotaUsedBefore = cycle.QuotaUsedBefore };
            try
            {
                var (lines, subtotal) = Pricing.Price(cycleTerms, cycle.BillableCalls);
                priced.Add(new PricedCycle(cycle, cycleTerms, lines, subtotal));
            }
            catch (OverflowException)
            {
                metrics.Failed(job, "overflow");
                BillingLog.AmountOverflow(logger, cycle.SubscriptionId, cycle.PeriodStart);
            }
        }
        return (priced, blockedAt);
    }

    /// <summary>
    /// Usage keeps the terms the edge enforced, its latest snapshot per subscription. While a cycle
    /// is open that snapshot is this cycle's, and must equal the version billed; a difference means
    /// an edge or data bug: the version is billed and the difference logged once. A cycle that has
    /// ended is not compared: after a plan change the latest snapshot is the next cycle's version.
    /// </summary>
    private void CheckSnapshot(CycleInput cycle, CycleUsage raw, Terms terms)
    {
        if (cycle.UsageAsOf >= cycle.PeriodEnd)
        {
            return;
        }
        var matches = raw.MonthlyQuota == terms.MonthlyQuota && raw.OverageAllowed == terms.OverageAllowed &&
            raw.PricePerCallMinor == terms.PricePerCallMinor && (raw.Currency.Length == 0 || raw.Currency == terms.Currency);
        if (!matches && _mismatchLogged.TryAdd(cycle.SubscriptionId, 0))
        {
            metrics.Failed("pricing", "snapshot_mismatch");
            BillingLog.SnapshotMismatch(logger, cycle.SubscriptionId, cycle.PlanId);
        }
    }
}
