namespace Veil.Edge.RateLimiting;

/// <summary>Outcome tag values of <c>veil.edge.ratelimit.decisions</c>.</summary>
internal static class RateLimitOutcomes
{
    public const string Allowed = "allowed";
    public const string Limited = "limited";
    public const string Degraded = "degraded";
}
