using Grpc.Core;

namespace Veil.Edge.Dependencies;

/// <summary>Recognises the host stopping under a background call or stream.</summary>
internal static class Stopping
{
    /// <summary>
    /// True when <paramref name="stoppingToken"/> is cancelled and <paramref name="exception"/> is
    /// that cancellation: an <see cref="OperationCanceledException"/>, or gRPC's
    /// <c>RpcException(Cancelled)</c> for a call or stream cancelled under the caller.
    /// </summary>
    public static bool Cancelled(Exception exception, CancellationToken stoppingToken) =>
        stoppingToken.IsCancellationRequested && exception is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled };
}
