namespace Veil.Edge.Dependencies;

/// <summary>The edge's two invalidation streams.</summary>
internal sealed class AuthChangeStreams
{
    public AuthChangeStream Keys { get; } = new("identity");

    public AuthChangeStream Subscriptions { get; } = new("subscriptions");

    public IEnumerable<AuthChangeStream> All => [Keys, Subscriptions];
}
