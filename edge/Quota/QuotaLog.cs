namespace Veil.Edge.Quota;

/// <summary>Log messages of the edge's quota step (EventIds 4610–4619, inside metering's 4600–4649).</summary>
internal static partial class QuotaLog
{
    [LoggerMessage(4610, LogLevel.Information, "Quota watch connected: {Count} exhausted hard-capped subscriptions (revision {Revision})")]
    public static partial void QuotaWatchConnected(ILogger logger, int count, long revision);

    [LoggerMessage(4611, LogLevel.Warning, "Quota watch lost ({Status}); keeping the last known {Count} exhausted subscriptions, next try in {Delay}")]
    public static partial void QuotaWatchLost(ILogger logger, string status, int count, TimeSpan delay);
}
