using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// One target's probe history on this edge: consecutive successes and failures and the last
/// probe, and the state they lead to (<see cref="Record"/>). Written by the probe round of its
/// cluster (one at a time), read by the health endpoint: guarded by a lock.
/// </summary>
internal sealed class TargetHealth
{
    private readonly Lock _gate = new();
    private string? _address;
    private DestinationHealth _state = DestinationHealth.Unknown;
    private int _successes;
    private int _failures;
    private DateTimeOffset? _lastProbeTime;
    private int? _lastStatusCode;
    private string? _lastError;

    /// <summary>
    /// Counts one probe of the target at <paramref name="address"/> and returns its state: from
    /// unknown, a success makes it healthy and <paramref name="unhealthyThreshold"/> failures in a
    /// row unhealthy; a healthy target turns unhealthy after that many failures in a row, an
    /// unhealthy one healthy after <paramref name="healthyThreshold"/> successes in a row. A new
    /// address (the target's URL changed) starts over from unknown.
    /// </summary>
    public DestinationHealth Record(string address, bool success, int? statusCode, string? error, DateTimeOffset at,
        int healthyThreshold, int unhealthyThreshold)
    {
        lock (_gate)
        {
            if (!string.Equals(address, _address, StringComparison.Ordinal))
            {
                (_address, _state, _successes, _failures) = (address, DestinationHealth.Unknown, 0, 0);
            }
            (_lastProbeTime, _lastStatusCode, _lastError) = (at, statusCode, error);
            if (success)
            {
                (_successes, _failures) = (_successes + 1, 0);
                if (_state != DestinationHealth.Unhealthy || _successes >= healthyThreshold)
                {
                    _state = DestinationHealth.Healthy;
                }
            }
            else
            {
                (_successes, _failures) = (0, _failures + 1);
                if (_failures >= unhealthyThreshold)
                {
                    _state = DestinationHealth.Unhealthy;
                }
            }
            return _state;
        }
    }

    public TargetHealthSnapshot Snapshot()
    {
        lock (_gate)
        {
            return new(_state, _successes, _failures, _lastProbeTime, _lastStatusCode, _lastError);
        }
    }
}
