using Grpc.Core;

namespace Veil.Edge.Dependencies;

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
