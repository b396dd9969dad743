using System.Collections.Concurrent;
using Grpc.Core;
using Veil.Billing.Data;
using Veil.Usage.V1;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Prices usage's cycles with <see cref="Pricing"/>: with the terms stored on the cycle's invoice
/// when there is one, else with the plan's terms from subscriptions (<see cref="PlanTermsSource"/>).
/// One per process, so a snapshot mismatch is logged once per subscription.
/// </summary>
/// <param name="plans">
/// Called once per page rather than held: <see cref="PlanTermsSource"/> is transient like the typed
/// gRPC client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class CyclePricer(BillingStore store, Func<PlanTermsSource> plans, BillingMetrics metrics, ILogger<CyclePricer> logger)
{
    private readonly ConcurrentDictionary<string, byte> _mismatchLogged = new(StringComparer.Ordinal);

    /// <summary>
    /// Prices a page: terms stored on an existing invoice, else the plan from subscriptions. Returns
    /// the priced cycles and the earliest end of a cycle that must be tried again (subscriptions did
    /// not answer); cycles that can never be priced (unknown plan, overflow) are logged and skipped.
    /// </summary>
    public async Task<(List<PricedCycle> Priced, long BlockedAt)> PriceAsync(IReadOnlyList<(CycleInput Cycle, CycleUsage Raw)> page, string job,
        CancellationToken cancellationToken)
    {
        var stored = await store.FindStoredTermsAsync(page.Select(c => (c.Cycle.SubscriptionId, c.Cycle.PeriodStart)), cancellationToken);
        var source = plans();
        var priced = new List<PricedCycle>(page.Count);
        var blockedAt = long.MaxValue;
        foreach (var (cycle, raw) in page)
        {
            if (!stored.TryGetValue((cycle.SubscriptionId, cycle.PeriodStart), out var terms))
            {
                try
                {
                    terms = await source.GetAsync(cycle.PlanId, cancellationToken);
                }
                catch (PlanNotFoundException)
                {
                    metrics.Failed(job, "plan_not_found");
                    BillingLog.PlanNotFound(logger, cycle.PlanId, cycle.SubscriptionId);
                    continue;
                }
                catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    metrics.Failed(job, "plan_unavailable");
                    BillingLog.PlanUnavailable(logger, cycle.PlanId, ex.StatusCode, cycle.SubscriptionId);
                    blockedAt = Math.Min(blockedAt, cycle.PeriodEnd);
                    continue;
                }
            }
            CheckSnapshot(cycle, raw, terms);
            // Usage's latest count of what earlier subscriptions used in this cycle (a finalised invoice keeps its own).
            terms = terms with { QuotaUsedBefore = cycle.QuotaUsedBefore };
            try
            {
                var (lines, subtotal) = Pricing.Price(terms, cycle.BillableCalls);
                priced.Add(new PricedCycle(cycle, terms, lines, subtotal));
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
    /// Usage keeps the terms the edge enforced; plans never change, so they must equal the plan's.
    /// A difference means an edge or data bug: the plan is billed and the difference logged once.
    /// </summary>
    private void CheckSnapshot(CycleInput cycle, CycleUsage raw, Terms terms)
    {
        var matches = raw.MonthlyQuota == terms.MonthlyQuota && raw.OverageAllowed == terms.OverageAllowed &&
            raw.PricePerCallMinor == terms.PricePerCallMinor && (raw.Currency.Length == 0 || raw.Currency == terms.Currency);
        if (!matches && _mismatchLogged.TryAdd(cycle.SubscriptionId, 0))
        {
            metrics.Failed("pricing", "snapshot_mismatch");
            BillingLog.SnapshotMismatch(logger, cycle.SubscriptionId, cycle.PlanId);
        }
    }
}
