using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Billing;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;

namespace Veil.Billing.Invoicing;

/// <summary>
/// A subscription as billing needs it: who pays, for what, from when until when. The terms of each
/// of its periods come from <see cref="CycleTermsSource"/> (a plan's version can change between cycles).
/// <see cref="AnchorMs"/> anchors its cycles; it precedes <see cref="StartMs"/> when the subscription
/// continues the cycle of the consumer's cancelled one to the same API.
/// </summary>
public sealed record ListedSubscription(string Id, string AccountId, string ApiId, string ProviderId, string PlanId, long StartMs, long? CanceledAtMs,
    long AnchorMs);

/// <summary>
/// Billing's view of subscriptions' <c>ListSubscriptionsForBilling</c>: every subscription that may
/// still have a period to invoice, page by page, each page with its own deadline
/// (<see cref="BillingOptions.SubscriptionsTimeout"/>). The calls carry no token: an internal RPC on
/// subscriptions' gRPC port, like <c>GetCycleTerms</c>. Failures surface as <see cref="Grpc.Core.RpcException"/>.
/// </summary>
public sealed class SubscriptionPeriods(SubscriptionService.SubscriptionServiceClient subscriptions, IOptionsMonitor<BillingOptions> options)
{
    /// <summary>The longest billing cycle (31 days): a subscription cancelled longer ago than this before a time has no cycle left after it.</summary>
    public static readonly TimeSpan LongestCycle = TimeSpan.FromDays(31);

    private const int PageSize = 500;

    /// <summary>Pages of active subscriptions and of those cancelled after <paramref name="canceledAfterMs"/>.</summary>
    public async IAsyncEnumerable<IReadOnlyList<ListedSubscription>> PagesAsync(long canceledAfterMs,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListSubscriptionsForBillingRequest
        {
            PageSize = PageSize,
            CanceledAfter = UnixMs.ToTimestamp(Math.Max(0, canceledAfterMs)),
        };
        do
        {
            var response = await subscriptions.ListSubscriptionsForBillingAsync(request,
                deadline: DateTime.UtcNow + options.CurrentValue.SubscriptionsTimeout, cancellationToken: cancellationToken);
            var page = new List<ListedSubscription>(response.Subscriptions.Count);
            foreach (var item in response.Subscriptions)
            {
                var subscription = item.Subscription;
                page.Add(new ListedSubscription(subscription.Id, subscription.ConsumerId, subscription.ApiId, item.ProviderId, subscription.PlanId,
                    subscription.CreateTime.ToUnixMs(), subscription.CancelTime is { } canceled ? canceled.ToUnixMs() : null,
                    (subscription.CycleAnchorTime ?? subscription.CreateTime).ToUnixMs()));
            }
            yield return page;
            request.PageToken = response.NextPageToken;
        }
        while (request.PageToken.Length > 0);
    }

    /// <summary>
    /// The periods of a subscription anchored at <paramref name="anchorMs"/> that billing must
    /// invoice: those ending after <paramref name="endedAfterMs"/> that have begun by
    /// <paramref name="nowMs"/> and began before the cancellation, if any. So the period in which a
    /// subscription is cancelled is billed (once, in full) and none after it. The periods are usage's
    /// cycles (<see cref="BillingCycle"/>); pass the subscription's start as
    /// <paramref name="endedAfterMs"/> at the latest, so a subscription that continues an earlier
    /// one's cycle gets no period from before it existed.
    /// </summary>
    public static IEnumerable<BillingCycle> ToInvoice(long anchorMs, long? canceledAtMs, long endedAfterMs, long nowMs)
    {
        // The cycle containing endedAfterMs is the first to end after it (or the first cycle, before the anchor).
        var period = BillingCycle.Containing(anchorMs, Math.Max(anchorMs, endedAfterMs));
        while (period.StartMs <= nowMs && (canceledAtMs is not { } canceled || period.StartMs < canceled))
        {
            yield return period;
            period = BillingCycle.Containing(anchorMs, period.EndMs);
        }
    }
}
