using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.Subscriptions.V1;

namespace Veil.Edge.Entitlement;

/// <summary>
/// Follows subscriptions' <c>WatchSubscriptionChanges</c>: a cancelled (or new) subscription's
/// answer leaves <see cref="EntitlementChecker"/>'s cache at once.
/// </summary>
internal sealed class SubscriptionChangeWatcher(SubscriptionService.SubscriptionServiceClient subscriptions, EntitlementChecker entitlements,
    AuthChangeStreams streams, EdgeMetrics metrics, IOptions<EdgeOptions> options, TimeProvider time, ILogger<SubscriptionChangeWatcher> logger)
    : AuthChangeWatcher<SubscriptionChanges>(streams.Subscriptions, metrics, options, time, logger)
{
    protected override AsyncServerStreamingCall<SubscriptionChanges> Watch(string edgeId, CancellationToken cancellationToken) =>
        subscriptions.WatchSubscriptionChanges(new WatchSubscriptionChangesRequest { EdgeId = edgeId }, cancellationToken: cancellationToken);

    protected override (long Revision, bool Resync, int Changes) Describe(SubscriptionChanges message) =>
        (message.Revision, message.Resync, message.Changes.Count);

    protected override void InvalidateAll() => entitlements.InvalidateAll();

    protected override void Invalidate(SubscriptionChanges message)
    {
        foreach (var change in message.Changes)
        {
            entitlements.Invalidate(change.ConsumerId, change.ApiId);
        }
    }
}
