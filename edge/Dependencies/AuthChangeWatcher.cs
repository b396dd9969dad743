using Grpc.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Veil.Identity.V1;
using Veil.Subscriptions.V1;

namespace Veil.Edge.Auth;

/// <summary>Whether one service's invalidation stream is connected, for metrics, health and <c>/_veil/edge</c>.</summary>
internal sealed class AuthChangeStream(string service)
{
    private volatile bool _connected;
    private long _revision = -1;

    /// <summary>"identity" or "subscriptions".</summary>
    public string Service { get; } = service;

    /// <summary>True while the stream is open and its resync marker has been applied.</summary>
    public bool Connected { get => _connected; set => _connected = value; }

    /// <summary>The last revision applied (-1 before the first message).</summary>
    public long Revision { get => Interlocked.Read(ref _revision); set => Interlocked.Exchange(ref _revision, value); }
}

/// <summary>The edge's two invalidation streams.</summary>
internal sealed class AuthChangeStreams
{
    public AuthChangeStream Keys { get; } = new("identity");

    public AuthChangeStream Subscriptions { get; } = new("subscriptions");

    public IEnumerable<AuthChangeStream> All => [Keys, Subscriptions];
}

/// <summary>
/// Follows one service's invalidation stream (<c>WatchKeyChanges</c>, <c>WatchSubscriptionChanges</c>)
/// and drops the matching cache entries the moment a change arrives, so a revocation or cancellation
/// reaches this edge in one network hop instead of after the cache TTL. Every (re)connection starts
/// with a resync marker on which the whole cache is flushed, since what changed while disconnected is
/// unknown; so is a gap in revisions. While the stream is down the caches' TTL (Edge:AuthCacheTtl) is
/// the bound, and the watch reconnects with capped, jittered exponential backoff (the catalog watch's
/// settings). The loss and the recovery are logged once each, the retries in between only at Debug.
/// </summary>
internal abstract class AuthChangeWatcher<TMessage>(
    AuthChangeStream stream, EdgeMetrics metrics, IOptions<EdgeOptions> options, TimeProvider time, ILogger logger)
    : StreamFollower<TMessage>(options.Value, time)
{
    private readonly TimeSpan _cacheTtl = options.Value.AuthCacheTtl;

    /// <summary>Opens the watch for this edge.</summary>
    protected abstract AsyncServerStreamingCall<TMessage> Watch(string edgeId, CancellationToken cancellationToken);

    /// <summary>The message's revision, resync flag and number of changes.</summary>
    protected abstract (long Revision, bool Resync, int Changes) Describe(TMessage message);

    /// <summary>Drops every cached answer.</summary>
    protected abstract void InvalidateAll();

    /// <summary>Drops the cached answers the message's changes make stale.</summary>
    protected abstract void Invalidate(TMessage message);

    protected override AsyncServerStreamingCall<TMessage> Open(CancellationToken cancellationToken) => Watch(EdgeId, cancellationToken);

    protected override void Apply(TMessage message, bool first)
    {
        var (revision, resync, changes) = Describe(message);
        // The server numbers changes one by one: a jump means some were not seen.
        if (resync || first || revision != stream.Revision + changes)
        {
            InvalidateAll();
            metrics.AuthInvalidation(stream.Service, resync: true);
        }
        else
        {
            Invalidate(message);
            metrics.AuthInvalidation(stream.Service, resync: false, changes);
        }
        stream.Revision = revision;
    }

    protected override void Connected(TMessage message)
    {
        stream.Connected = true;
        EdgeLog.AuthWatchConnected(logger, stream.Service, stream.Revision);
    }

    protected override void Lost(StatusCode status, bool everConnected, Exception? error)
    {
        stream.Connected = false;
        if (everConnected)
        {
            EdgeLog.AuthWatchLost(logger, stream.Service, status, _cacheTtl, error);
        }
        else
        {
            EdgeLog.AuthWatchUnavailableAtStart(logger, stream.Service, status, _cacheTtl, error);
        }
    }

    protected override void Retrying(StatusCode status, TimeSpan delay) => EdgeLog.AuthWatchRetry(logger, stream.Service, status, delay);
}

/// <summary>Follows identity's <c>WatchKeyChanges</c>: a revoked key leaves <see cref="ApiKeyValidator"/>'s cache at once.</summary>
internal sealed class KeyChangeWatcher(IdentityService.IdentityServiceClient identity, ApiKeyValidator keys, AuthChangeStreams streams,
    EdgeMetrics metrics, IOptions<EdgeOptions> options, TimeProvider time, ILogger<KeyChangeWatcher> logger)
    : AuthChangeWatcher<KeyChanges>(streams.Keys, metrics, options, time, logger)
{
    protected override AsyncServerStreamingCall<KeyChanges> Watch(string edgeId, CancellationToken cancellationToken) =>
        identity.WatchKeyChanges(new WatchKeyChangesRequest { EdgeId = edgeId }, cancellationToken: cancellationToken);

    protected override (long Revision, bool Resync, int Changes) Describe(KeyChanges message) =>
        (message.Revision, message.Resync, message.Changes.Count);

    protected override void InvalidateAll() => keys.InvalidateAll();

    protected override void Invalidate(KeyChanges message)
    {
        foreach (var change in message.Changes)
        {
            keys.Invalidate(change.KeyId);
        }
    }
}

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

/// <summary>
/// Healthy while both invalidation streams are connected; degraded (still serving, revocations then
/// take up to the cache TTL) while either is down.
/// </summary>
internal sealed class AuthChangeHealthCheck(AuthChangeStreams streams, IOptions<EdgeOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var down = streams.All.Where(s => !s.Connected).Select(s => s.Service).ToArray();
        return Task.FromResult(down.Length == 0
            ? HealthCheckResult.Healthy("Revocations and cancellations are pushed by identity and subscriptions.")
            : HealthCheckResult.Degraded(
                $"No change stream from {string.Join(" and ", down)}; revocations and cancellations take up to {options.Value.AuthCacheTtl} (the cache TTL)."));
    }
}
