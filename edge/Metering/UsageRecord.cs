namespace Veil.Edge.Metering;

/// <summary>One call's usage event as the request path hands it to the spool: its context by reference, its own fields by value.</summary>
internal readonly record struct UsageRecord(UsageContextKey Context, string EventId, long OccurredAtMs, int StatusCode, long LatencyMs,
    long BytesIn, long BytesOut, bool Billable);
