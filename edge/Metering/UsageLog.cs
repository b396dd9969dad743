namespace Veil.Edge.Metering;

/// <summary>Log messages of the edge's metering (EventIds 4600–4609; the quota step has 4610–4619).</summary>
internal static partial class UsageLog
{
    [LoggerMessage(4600, LogLevel.Information, "Usage spool {Path} opened with {Depth} events waiting to ship")]
    public static partial void SpoolOpened(ILogger logger, string path, long depth);

    [LoggerMessage(4601, LogLevel.Error, "Usage events are being dropped ({Reason}): the spool holds {Depth} of at most {Max} events. Logged once per episode; see veil.edge.usage.dropped")]
    public static partial void DroppingStarted(ILogger logger, string reason, long depth, long max);

    [LoggerMessage(4602, LogLevel.Warning, "Usage events are kept again after {Dropped} were dropped ({Reason})")]
    public static partial void DroppingEnded(ILogger logger, long dropped, string reason);

    [LoggerMessage(4603, LogLevel.Error, "Writing {Count} usage events to the spool failed; retrying")]
    public static partial void SpoolWriteFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(4604, LogLevel.Warning, "Shipping {Count} usage events failed ({Status}); {Depth} spooled, next try in {Delay}")]
    public static partial void ShipFailed(ILogger logger, int count, string status, long depth, TimeSpan delay);

    [LoggerMessage(4605, LogLevel.Information, "Usage shipping resumed after {Failures} failed attempts")]
    public static partial void ShipResumed(ILogger logger, int failures);

    [LoggerMessage(4606, LogLevel.Warning, "Usage quarantined {Count} events from this edge (see ListQuarantinedEvents)")]
    public static partial void EventsQuarantined(ILogger logger, int count);

    [LoggerMessage(4608, LogLevel.Error, "Usage acknowledged {Acknowledged} of the {Sent} events shipped; the batch stays spooled and is retried. A usage service older than this edge ignores grouped events: upgrade usage first")]
    public static partial void ShipIncomplete(ILogger logger, int acknowledged, int sent);

    [LoggerMessage(4607, LogLevel.Information, "Usage spool stopped: {Depth} events left to ship after the next start")]
    public static partial void SpoolStopped(ILogger logger, long depth);
}
