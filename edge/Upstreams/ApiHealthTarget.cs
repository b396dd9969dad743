namespace Veil.Edge.Upstreams;

/// <summary>
/// One target in <see cref="ApiHealth"/>: its state on this edge (healthy, unhealthy or unknown:
/// not probed yet, or no health check), whether it takes traffic, and its last probe.
/// </summary>
internal sealed record ApiHealthTarget(string Id, string Url, int Weight, string State, bool InRotation,
    DateTimeOffset? LastProbeTime, string? LastProbeResult, int? LastProbeStatusCode, string? LastProbeError,
    int ConsecutiveSuccesses, int ConsecutiveFailures);
