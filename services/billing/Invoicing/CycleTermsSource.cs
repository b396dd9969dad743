using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;

namespace Veil.Billing.Invoicing;

/// <summary>
/// The terms each subscription cycle is priced with, from subscriptions' <c>GetCycleTerms</c> at
/// <c>http://_grpc.subscriptions</c>: the plan version that cycle runs on (a plan changed during a
/// cycle applies from the subscription's next one; see docs/subscriptions.md, "Changing a plan").
/// Asked only for cycles without an invoice yet (an invoice stores its terms), up to 1,000 per call,
/// each call with its own deadline. Transient failures surface as <see cref="RpcException"/> and are
/// retried by the next job tick.
/// </summary>
public sealed class CycleTermsSource(SubscriptionService.SubscriptionServiceClient subscriptions, IOptionsMonitor<BillingOptions> options)
{
    private const int Batch = 1000;

    /// <summary>The terms of each cycle subscriptions knows; a subscription it does not know is left out.</summary>
    public async Task<Dictionary<(string SubscriptionId, long PeriodStart), Terms>> GetAsync(
        IReadOnlyCollection<(string SubscriptionId, long PeriodStart)> cycles, CancellationToken cancellationToken)
    {
        var found = new Dictionary<(string, long), Terms>();
        foreach (var chunk in cycles.Distinct().Chunk(Batch))
        {
            var request = new GetCycleTermsRequest();
            request.Cycles.AddRange(chunk.Select(c => new CycleRef { SubscriptionId = c.SubscriptionId, CycleStart = UnixMs.ToTimestamp(c.PeriodStart) }));
            var response = await subscriptions.GetCycleTermsAsync(request, deadline: DateTime.UtcNow + options.CurrentValue.SubscriptionsTimeout,
                cancellationToken: cancellationToken);
            foreach (var cycle in response.Cycles)
            {
                var plan = cycle.Plan;
                found[(cycle.SubscriptionId, cycle.CycleStart.ToUnixMs())] = new Terms(plan.BasePriceMinor, plan.PricePerCallMinor,
                    plan.OveragePricePerCallMinor, plan.MonthlyQuota, plan.OverageAllowed, plan.Currency);
            }
        }
        return found;
    }
}
