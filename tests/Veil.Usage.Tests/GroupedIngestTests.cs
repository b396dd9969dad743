using Grpc.Core;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

/// <summary>IngestEvents with calls grouped by context (<see cref="UsageEventGroup"/>), as edges ship them.</summary>
public sealed class GroupedIngestTests(IdentityFixture identity)
{
    [Fact]
    public async Task IngestEvents_Groups_CountedExactlyLikeTheSameEventsOneByOne()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
        var otherKey = sub with { KeyId = "key_" + Guid.NewGuid().ToString("N")[..20] };
        var events = sub.Calls(150, now.AddMinutes(-30)).Concat(otherKey.Calls(50, now.AddMinutes(-20), billable: false))
            .Select((e, i) => { e.StatusCode = 200 + (i % 5); e.LatencyMs = i; e.BytesIn = i * 3; e.BytesOut = i * 7; return e; })
            .ToList();

        // The first 100 one by one, then all 200 grouped: the same ids are duplicates whatever the form.
        var single = await usage.Client.IngestAsync(events.Take(100));
        var groupedRequest = IngestEventsRequest.Grouped(events.OrderBy(_ => Random.Shared.Next()));
        var grouped = await usage.Client.IngestAsync(groupedRequest);
        var replay = await usage.Client.IngestAsync(groupedRequest);

        Assert.Equal(2, groupedRequest.Groups.Count);
        Assert.Equal((100, 0, 0), (single.Accepted, single.Duplicates, single.Quarantined));
        Assert.Equal((100, 100, 0), (grouped.Accepted, grouped.Duplicates, grouped.Quarantined));
        Assert.Equal((0, 200, 0), (replay.Accepted, replay.Duplicates, replay.Quarantined));
        var status = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        Assert.Equal((150, 200), (status.Used, status.TotalCalls));

        // Every call's own fields stored as sent, under the context its group shares with the single events.
        var rows = await usage.QueryAsync("""
            SELECT e.event_id, e.occurred_at, e.status_code, e.latency_ms, e.bytes_in, e.bytes_out, e.billable, c.key_id
            FROM events e JOIN contexts c ON c.id = e.context_id
            """);
        Assert.Equal(200, rows.Count);
        var stored = rows.ToDictionary(r => (string)r[0]!);
        foreach (var e in events)
        {
            var row = stored[e.EventId];
            Assert.Equal(
                (e.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds(), (long)e.StatusCode, e.LatencyMs, e.BytesIn, e.BytesOut, e.Billable ? 1L : 0L, e.KeyId),
                ((long)row[1]!, (long)row[2]!, (long)row[3]!, (long)row[4]!, (long)row[5]!, (long)row[6]!, (string)row[7]!));
        }
        Assert.Equal(2L, (await usage.QueryAsync("SELECT COUNT(*) FROM contexts"))[0][0]);
        await usage.RolledUpAsync();
        var query = await usage.Client.QueryAsync(consumer.Token, new QueryUsageRequest { Granularity = "DAY", StartTime = Api.Ts(now.AddDays(-2)) });
        Assert.Equal((200, 150), (query.Totals.TotalCalls, query.Totals.BillableCalls));
        Assert.Equal(events.Sum(e => e.BytesOut), query.Totals.BytesOut);
    }

    [Theory]
    [HardDateData]
    public async Task IngestEvents_GroupWithBadCalls_QuarantinesThoseCallsAsWholeEvents(string at)
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var admin = await identity.AdminAsync();
        var now = HardDates.Parse(at);
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        // Mid-cycle, so the good call counts in the current cycle on every date.
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
        var good = sub.Call(now.AddMinutes(-1));
        var future = sub.Call(now.AddHours(1));
        var old = sub.Call(now.AddDays(-8));
        var badStatus = sub.Call(now, status: 42);
        var noId = sub.Call(now, id: "");
        var request = IngestEventsRequest.Grouped([good, future, old, badStatus, noId]);
        // A context that no call can be counted under: every call of its group is quarantined.
        var withQuery = sub.Call(now.AddMinutes(-2));
        withQuery.Route = "/weather?city=Paris";
        var other = sub.Call(now.AddMinutes(-3));
        other.Route = withQuery.Route;
        request.Groups.Add(IngestEventsRequest.Grouped([withQuery, other]).Groups[0]);

        var result = await usage.Client.IngestAsync(request);
        var retried = await usage.Client.IngestAsync(request);

        Assert.Equal((1, 0, 6), (result.Accepted, result.Duplicates, result.Quarantined));
        Assert.Equal((0, 1, 6), (retried.Accepted, retried.Duplicates, retried.Quarantined));
        var list = (await usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(admin.Token))).Events;
        Assert.Equal(6, list.Count);
        var reasons = list.ToDictionary(q => q.Event.EventId, q => (q.Reason, q.Detail.Split(':')[0]));
        Assert.Equal(QuarantineReason.Future, reasons[future.EventId].Reason);
        Assert.Equal(QuarantineReason.OutsideWindow, reasons[old.EventId].Reason);
        Assert.Equal((QuarantineReason.Invalid, "status_code"), reasons[badStatus.EventId]);
        Assert.Equal((QuarantineReason.Invalid, "event_id"), reasons[""]);
        Assert.Equal((QuarantineReason.Invalid, "route"), reasons[withQuery.EventId]);
        Assert.Equal((QuarantineReason.Invalid, "route"), reasons[other.EventId]);
        // Quarantined as the whole event the call stands for (occurred_at kept to the millisecond).
        foreach (var sent in new[] { old, withQuery })
        {
            var expected = sent.Clone();
            expected.OccurredAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(
                DateTimeOffset.FromUnixTimeMilliseconds(sent.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds()));
            Assert.Equal(expected, list.Single(q => q.Event.EventId == sent.EventId).Event);
        }
        Assert.Equal(1, (await usage.Client.QuotaAsync(consumer.Token, sub.Id)).Used);
    }

    [Fact]
    public async Task IngestEvents_MalformedGroups_InvalidArgumentAndNothingStored()
    {
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        usage.With("Usage:MaxBatchSize", "10");
        var sub = Sub.New("acc_c", "acc_p", Cycles.AnchorMidCycle(now));
        var calls = sub.Calls(4, now.AddMinutes(-5));

        var ragged = IngestEventsRequest.Grouped(calls);
        ragged.Groups[0].StatusCodes.Add(200);
        var perCallInContext = IngestEventsRequest.Grouped(calls);
        perCallInContext.Groups[0].Context.EventId = calls[0].EventId;
        var empty = new IngestEventsRequest { Groups = { new UsageEventGroup { Context = calls[0].Clone() } } };
        // 6 single events + 5 grouped calls: over the limit of 10, counted across both forms.
        var oversized = IngestEventsRequest.Grouped(sub.Calls(5, now.AddMinutes(-4)));
        oversized.Events.AddRange(sub.Calls(6, now.AddMinutes(-3)));

        foreach (var (request, field) in new[] { (ragged, "groups[0]"), (perCallInContext, "groups[0].context"), (empty, "groups[0]"), (oversized, "events") })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => usage.Client.IngestAsync(request));
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.Contains(field, error.Status.Detail, StringComparison.Ordinal);
        }
        Assert.Empty(await usage.QueryAsync("SELECT 1 FROM events"));
        Assert.Empty(await usage.QueryAsync("SELECT 1 FROM quarantine"));
    }
}
