using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.Subscriptions.V1;

namespace Veil.Edge.Entitlement;

/// <summary>
/// Asks subscriptions whether a consumer may call an API, through the same 1 s single-flight cache
/// as keys. A cancelled (or new) subscription's cached answer is dropped as soon as subscriptions
/// pushes the change (<see cref="SubscriptionChangeWatcher"/>), and expires within the TTL when that
/// stream is down.
/// </summary>
internal sealed class EntitlementChecker
{
    private readonly SubscriptionService.SubscriptionServiceClient _subscriptions;
    private readonly EdgeMetrics _metrics;
    private readonly TimeSpan _deadline;
    private readonly DependencyState _state;
    private readonly SingleFlightCache<(string AccountId, string ApiId), Entitlement?> _cache;

    public EntitlementChecker(SubscriptionService.SubscriptionServiceClient subscriptions, EdgeMetrics metrics, IOptions<EdgeOptions> options,
        TimeProvider time, ILogger<EntitlementChecker> logger)
    {
        _subscriptions = subscriptions;
        _metrics = metrics;
        _deadline = options.Value.AuthCallTimeout;
        _state = new DependencyState("subscriptions", logger);
        _cache = new SingleFlightCache<(string, string), Entitlement?>(options.Value.AuthCacheTtl, options.Value.AuthCacheMaxEntries, time,
            hit => metrics.CacheLookup(AuthCache.Entitlement, hit));
    }

    /// <summary>Drops the cached answer for the consumer and API; true when one was held.</summary>
    public bool Invalidate(string accountId, string apiId) => _cache.Invalidate((accountId, apiId));

    /// <summary>Drops every cached answer; returns how many.</summary>
    public int InvalidateAll() => _cache.InvalidateAll();

    /// <summary>The consumer's entitlement to the API, or null when it has no active subscription.</summary>
    /// <exception cref="DependencyUnavailableException">Subscriptions did not answer in time.</exception>
    public ValueTask<Entitlement?> CheckAsync(string accountId, string apiId, CancellationToken cancellationToken) =>
        _cache.GetOrLoadAsync((accountId, apiId), (this, accountId, apiId), static s => s.Item1.CallSubscriptionsAsync(s.accountId, s.apiId), cancellationToken);

    private async Task<Entitlement?> CallSubscriptionsAsync(string accountId, string apiId)
    {
        try
        {
            var response = await _subscriptions.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = accountId, ApiId = apiId },
                deadline: DateTime.UtcNow + _deadline).ResponseAsync.ConfigureAwait(false);
            _metrics.AuthCall(_state.Service, ok: true);
            _state.Succeeded();
            return response.Entitled && response.Subscription is { } subscription
                ? new Entitlement(subscription.Id, response.Plan?.Id ?? subscription.PlanId, response.Plan,
                    // Cycles are anchored here; an older subscriptions service sends only create_time.
                    subscription.CycleAnchorTime ?? subscription.CreateTime)
                : null;
        }
        catch (RpcException ex)
        {
            _metrics.AuthCall(_state.Service, ok: false);
            throw _state.Failed(ex);
        }
    }
}
