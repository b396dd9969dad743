namespace Veil.Edge.RateLimiting;

/// <summary>Marker: the rate-limit gauges exist.</summary>
internal sealed class RateLimitGauges;
