namespace Veil.Edge;

/// <summary>What <c>GET /_veil/edge</c> reports.</summary>
internal sealed record EdgeStatus(long? Revision, int ApiRoutes, bool WatchConnected, DateTimeOffset? AppliedAt,
    bool KeyChangesConnected, bool SubscriptionChangesConnected);
