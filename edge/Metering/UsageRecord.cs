namespace Veil.Edge.Metering;

/// <summary>
/// One call's usage event as the request path hands it to the spool: its context by reference, its own fields by value.
/// <paramref name="RequestId"/> and <paramref name="Path"/> (for the call log) are strings the request already holds.
/// </summary>
internal readonly record struct UsageRecord(UsageContextKey Context, string EventId, long OccurredAtMs, int StatusCode, long LatencyMs,
    long BytesIn, long BytesOut, bool Billable, string RequestId, string Path);
