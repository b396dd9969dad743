namespace Veil.Edge.RateLimiting;

/// <summary>Rate limiting's log events (EventIds 4500–4599): transitions only, never per request, never a key.</summary>
internal static partial class RateLimitLog
{
    [LoggerMessage(4500, LogLevel.Warning, "The ratelimit service is unavailable ({Reason}); enforcing local limits at limit / {EdgeCount} until it answers")]
    public static partial void Degraded(ILogger logger, string reason, int edgeCount, Exception? exception);

    [LoggerMessage(4501, LogLevel.Information, "The ratelimit service answers again after {Duration}; limits are leased from it again")]
    public static partial void Recovered(ILogger logger, TimeSpan duration);

    [LoggerMessage(4502, LogLevel.Debug, "Evicted {Count} idle rate-limit buckets")]
    public static partial void Evicted(ILogger logger, int count);
}
