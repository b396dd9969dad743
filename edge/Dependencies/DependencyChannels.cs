using System.Net.Http;

namespace Veil.Edge.Dependencies;

/// <summary>How the edge's gRPC clients to the fleet's services are set up.</summary>
internal static class DependencyChannels
{
    /// <summary>
    /// Attempts in all (one retry on Unavailable, inside the call's deadline) for clients whose unary
    /// calls are reads (ValidateApiKey, CheckEntitlement). The mesh and the caller do not retry these on top.
    /// </summary>
    public const int ReadAttempts = 2;

    /// <summary>
    /// The handler of a channel that carries one long-lived watch stream (WatchGatewayConfig,
    /// WatchKeyChanges, WatchSubscriptionChanges, WatchQuotaStates): keep-alive pings notice a dead
    /// service (or a silently dropped connection) and end the stream, so its watcher reconnects.
    /// </summary>
    public static SocketsHttpHandler WatchHandler() => new()
    {
        KeepAlivePingDelay = TimeSpan.FromSeconds(20),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        // A watch holds one HTTP/2 stream for ever; unary calls must never queue behind the stream limit.
        EnableMultipleHttp2Connections = true,
    };
}
