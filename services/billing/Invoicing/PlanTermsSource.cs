using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Subscriptions.V1;

namespace Veil.Billing.Invoicing;

/// <summary>A plan that subscriptions says does not exist: its cycles cannot be priced (permanent).</summary>
public sealed class PlanNotFoundException(string planId) : Exception($"Plan '{planId}' does not exist.");

/// <summary>
/// The terms of a plan, from subscriptions' <c>GetPlan</c> at <c>http://_grpc.subscriptions</c>,
/// cached per plan id for the life of the process: plans never change (a new price is a new plan),
/// so a cached answer is never stale. Misses carry a deadline; transient failures surface as
/// <see cref="RpcException"/> and are retried by the next job tick.
/// </summary>
public sealed class PlanTermsSource(SubscriptionService.SubscriptionServiceClient subscriptions, PlanTermsCache cache, IOptionsMonitor<BillingOptions> options)
{
    public async Task<Terms> GetAsync(string planId, CancellationToken cancellationToken)
    {
        if (cache.Plans.TryGetValue(planId, out var cached))
        {
            return cached;
        }
        Plan plan;
        try
        {
            plan = (await subscriptions.GetPlanAsync(new GetPlanRequest { PlanId = planId },
                deadline: DateTime.UtcNow + options.CurrentValue.SubscriptionsTimeout, cancellationToken: cancellationToken)).Plan;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            throw new PlanNotFoundException(planId);
        }
        var terms = new Terms(plan.BasePriceMinor, plan.PricePerCallMinor, plan.OveragePricePerCallMinor, plan.MonthlyQuota, plan.OverageAllowed, plan.Currency);
        cache.Plans[planId] = terms;
        return terms;
    }
}

/// <summary>Plan terms by plan id, kept for the life of the process (plans are immutable).</summary>
public sealed class PlanTermsCache
{
    public ConcurrentDictionary<string, Terms> Plans { get; } = new(StringComparer.Ordinal);
}
