using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.Identity.V1;

namespace Veil.Edge.Auth;

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
