namespace Veil.Edge.Dependencies;

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
