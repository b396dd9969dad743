using Microsoft.Extensions.Options;
using Veil.Billing.Data;
using Veil.ServiceDefaults.Grpc;
using Veil.Usage.V1;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Billing's view of usage's <c>ListCycleUsage</c>: the cycles (exactly as usage computes them)
/// with their billable counts, page by page, each call with its own deadline. Failures surface as
/// <see cref="Grpc.Core.RpcException"/>; the caller decides whether that means "retry next tick"
/// (jobs) or "serve what is stored" (reads).
/// </summary>
public sealed class UsageCycles(UsageService.UsageServiceClient usage, IOptionsMonitor<BillingOptions> options, TimeProvider time)
{
    /// <summary>Pages of cycles matching the filter, ordered by subscription then cycle start.</summary>
    public async IAsyncEnumerable<IReadOnlyList<(CycleInput Cycle, CycleUsage Raw)>> PagesAsync(
        string? subscriptionId, long cycleEndAfterMs, long? cycleStartBeforeMs, bool recount, TimeSpan? timeout,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListCycleUsageRequest
        {
            SubscriptionId = subscriptionId ?? "",
            CycleEndAfter = UnixMs.ToTimestamp(cycleEndAfterMs),
            CycleStartBefore = cycleStartBeforeMs is { } before ? UnixMs.ToTimestamp(before) : null,
            RecountFromEvents = recount,
            PageSize = 500,
        };
        do
        {
            var asOf = time.GetUtcNow().ToUnixTimeMilliseconds();
            var response = await usage.ListCycleUsageAsync(request, deadline: DateTime.UtcNow + (timeout ?? options.CurrentValue.UsageTimeout),
                cancellationToken: cancellationToken);
            yield return response.Cycles.Select(c => (new CycleInput(c.SubscriptionId, c.ConsumerId, c.ProviderId, c.ApiId, c.PlanId,
                c.CycleStart.ToUnixMs(), c.CycleEnd.ToUnixMs(), c.BillableCalls, asOf, c.QuotaUsedBefore), c)).ToList();
            request.PageToken = response.NextPageToken;
        }
        while (request.PageToken.Length > 0);
    }

    /// <summary>The one cycle of <paramref name="subscriptionId"/> that starts at <paramref name="periodStartMs"/>, or null.</summary>
    public async Task<(CycleInput Cycle, CycleUsage Raw)?> FindAsync(string subscriptionId, long periodStartMs, long periodEndMs, bool recount, TimeSpan? timeout,
        CancellationToken cancellationToken)
    {
        // The cycle ends after end − 1 ms and starts before start + 1 ms: exactly this one.
        await foreach (var page in PagesAsync(subscriptionId, periodEndMs - 1, periodStartMs + 1, recount, timeout, cancellationToken))
        {
            foreach (var cycle in page)
            {
                if (cycle.Cycle.PeriodStart == periodStartMs)
                {
                    return cycle;
                }
            }
        }
        return null;
    }
}
