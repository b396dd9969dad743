using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Veil.Edge.Dependencies;

/// <summary>
/// Follows one service's invalidation stream (<c>WatchKeyChanges</c>, <c>WatchSubscriptionChanges</c>)
/// and drops the matching cache entries the moment a change arrives, so a revocation or cancellation
/// reaches this edge in one network hop instead of after the cache TTL. Every (re)connection starts
/// with a resync marker on which the whole cache is flushed, since what changed while disconnected is
/// unknown; so is a gap in revisions. While the stream is down the caches' TTL (Edge:AuthCacheTtl) is
/// the bound, and the watch reconnects with capped, jittered exponential backoff (the catalog watch's
/// settings). The loss and the recovery are logged once each, the retries in between only at Debug.
/// The two streams are <c>Auth/KeyChangeWatcher</c> and <c>Entitlement/SubscriptionChangeWatcher</c>.
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
