namespace Veil.Edge.Upstreams;

/// <summary>The health check in effect (defaults applied); null in <see cref="ApiHealth"/> when the API has none.</summary>
internal sealed record ApiHealthCheck(string Path, int IntervalMs, int TimeoutMs, int HealthyThreshold, int UnhealthyThreshold);
