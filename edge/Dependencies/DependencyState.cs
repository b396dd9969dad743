using Grpc.Core;

namespace Veil.Edge.Auth;

/// <summary>Raised when identity or subscriptions cannot answer; the pipeline turns it into a 503.</summary>
internal sealed class DependencyUnavailableException(string service, Exception inner)
    : Exception($"{service} is unavailable.", inner)
{
    public string Service { get; } = service;
}

/// <summary>
/// Tracks whether one dependency answers, so its outage and its recovery are each logged once
/// instead of once per failed call.
/// </summary>
internal sealed class DependencyState(string service, ILogger logger)
{
    private int _down;

    public string Service { get; } = service;

    public void Succeeded()
    {
        if (Volatile.Read(ref _down) == 1 && Interlocked.Exchange(ref _down, 0) == 1)
        {
            EdgeLog.DependencyUp(logger, Service);
        }
    }

    public DependencyUnavailableException Failed(RpcException exception)
    {
        if (Interlocked.Exchange(ref _down, 1) == 0)
        {
            EdgeLog.DependencyDown(logger, Service, exception.StatusCode, exception);
        }
        return new DependencyUnavailableException(Service, exception);
    }
}
