using Google.Protobuf.WellKnownTypes;

namespace Veil.Usage.V1;

public sealed partial class UsageEventGroup
{
    /// <summary>
    /// Calls in the group, or -1 when its columns differ in length (the group is malformed). The
    /// call-log columns (<see cref="RequestIds"/>, <see cref="Paths"/>) may also be empty: a group
    /// from an edge before the call log.
    /// </summary>
    public int CallCount
    {
        get
        {
            var count = EventIds.Count;
            return OccurredAtMs.Count == count && StatusCodes.Count == count && LatenciesMs.Count == count &&
                BytesIn.Count == count && BytesOut.Count == count && Billable.Count == count &&
                (RequestIds.Count == 0 || RequestIds.Count == count) && (Paths.Count == 0 || Paths.Count == count)
                ? count
                : -1;
        }
    }

    /// <summary>Call <paramref name="index"/>'s request id; empty when the group has none.</summary>
    public string RequestIdAt(int index) => RequestIds.Count == 0 ? "" : RequestIds[index];

    /// <summary>Call <paramref name="index"/>'s path; empty when the group has none.</summary>
    public string PathAt(int index) => Paths.Count == 0 ? "" : Paths[index];

    /// <summary>
    /// Call <paramref name="index"/> as the <see cref="UsageEvent"/> it stands for: the context's
    /// fields with the call's. For the rare reader that wants whole events (quarantine, tools, tests).
    /// </summary>
    public UsageEvent ToEvent(int index)
    {
        var usageEvent = Context?.Clone() ?? new UsageEvent();
        usageEvent.EventId = EventIds[index];
        usageEvent.OccurredAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(
            Math.Clamp(OccurredAtMs[index], -62_135_596_800_000, 253_402_300_799_999)));
        usageEvent.StatusCode = StatusCodes[index];
        usageEvent.LatencyMs = LatenciesMs[index];
        usageEvent.BytesIn = BytesIn[index];
        usageEvent.BytesOut = BytesOut[index];
        usageEvent.Billable = Billable[index];
        usageEvent.RequestId = RequestIdAt(index);
        usageEvent.Path = PathAt(index);
        return usageEvent;
    }

    /// <summary>Appends one call: an entry in each column (the call-log columns included).</summary>
    public void AddCall(string eventId, long occurredAtMs, int statusCode, long latencyMs, long bytesIn, long bytesOut, bool billable,
        string requestId, string path)
    {
        EventIds.Add(eventId);
        OccurredAtMs.Add(occurredAtMs);
        StatusCodes.Add(statusCode);
        LatenciesMs.Add(latencyMs);
        BytesIn.Add(bytesIn);
        BytesOut.Add(bytesOut);
        Billable.Add(billable);
        RequestIds.Add(requestId);
        Paths.Add(path);
    }

    /// <summary>Every call as a <see cref="UsageEvent"/>, in order.</summary>
    public IEnumerable<UsageEvent> ToEvents()
    {
        var count = CallCount;
        if (count < 0)
        {
            throw new InvalidOperationException("The group's columns differ in length.");
        }
        for (var i = 0; i < count; i++)
        {
            yield return ToEvent(i);
        }
    }
}

public sealed partial class UsageEvent
{
    /// <summary>True when any per-call field (those a group holds as columns) is set.</summary>
    public bool HasCallFields =>
        EventId.Length > 0 || OccurredAt is not null || StatusCode != 0 || LatencyMs != 0 || BytesIn != 0 || BytesOut != 0 || Billable ||
        RequestId.Length > 0 || Path.Length > 0;

    /// <summary>A copy with every per-call field unset: what the event shares with the other calls of its group.</summary>
    public UsageEvent ToContext()
    {
        var context = Clone();
        context.EventId = "";
        context.OccurredAt = null;
        context.StatusCode = 0;
        context.LatencyMs = 0;
        context.BytesIn = 0;
        context.BytesOut = 0;
        context.Billable = false;
        context.RequestId = "";
        context.Path = "";
        return context;
    }
}

public sealed partial class IngestEventsRequest
{
    /// <summary>
    /// A request carrying <paramref name="events"/> as edges send them: one <see cref="UsageEventGroup"/>
    /// per set of shared fields, groups in the order of their first call, calls in the given order.
    /// <c>occurred_at</c> is kept to the millisecond (the precision usage stores).
    /// </summary>
    public static IngestEventsRequest Grouped(IEnumerable<UsageEvent> events)
    {
        var groups = new Dictionary<UsageEvent, UsageEventGroup>();
        var request = new IngestEventsRequest();
        foreach (var e in events)
        {
            var context = e.ToContext();
            if (!groups.TryGetValue(context, out var group))
            {
                group = new UsageEventGroup { Context = context };
                groups.Add(context, group);
                request.Groups.Add(group);
            }
            group.AddCall(e.EventId, e.OccurredAt?.ToUnixMilliseconds() ?? 0, e.StatusCode, e.LatencyMs, e.BytesIn, e.BytesOut, e.Billable,
                e.RequestId, e.Path);
        }
        return request;
    }

    /// <summary>Events in the request: single events plus every group's calls (malformed groups count as none).</summary>
    public int EventCount
    {
        get
        {
            var count = Events.Count;
            foreach (var group in Groups)
            {
                count += Math.Max(0, group.CallCount);
            }
            return count;
        }
    }
}

/// <summary>Usage's time arithmetic on protobuf timestamps.</summary>
public static class UsageTimestamps
{
    /// <summary>Milliseconds since the Unix epoch, the precision usage stores (sub-millisecond digits dropped).</summary>
    public static long ToUnixMilliseconds(this Timestamp timestamp) => (timestamp.Seconds * 1000) + (timestamp.Nanos / 1_000_000);
}
