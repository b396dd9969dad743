using System.Diagnostics.Metrics;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

public sealed class IngestTests(IdentityFixture identity)
{
    [Fact]
    public async Task IngestEvents_DuplicateAndOutOfOrderBatches_CountedOnce()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
        var events = sub.Calls(300, now.AddMinutes(-30));

        // Out of order, overlapping, and repeating ids within one batch.
        var first = await usage.Client.IngestAsync(events.Take(200).OrderBy(_ => Random.Shared.Next()));
        var overlapping = events.Skip(100).Reverse().Concat(events.Skip(290)).ToList();
        var second = await usage.Client.IngestAsync(overlapping);
        var replay = await usage.Client.IngestAsync(events.Take(200));

        Assert.Equal((200, 0, 0), (first.Accepted, first.Duplicates, first.Quarantined));
        Assert.Equal((100, 110, 0), (second.Accepted, second.Duplicates, second.Quarantined));
        Assert.Equal((0, 200, 0), (replay.Accepted, replay.Duplicates, replay.Quarantined));

        var status = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        Assert.Equal(300, status.Used);
        Assert.Equal(300, status.TotalCalls);
        await usage.RolledUpAsync();
        var query = await usage.Client.QueryAsync(consumer.Token, new QueryUsageRequest { Granularity = "DAY", StartTime = Api.Ts(now.AddDays(-2)) });
        Assert.Equal(300, query.Totals.TotalCalls);
        Assert.Equal(300L, (await usage.QueryAsync("SELECT COUNT(*) FROM events"))[0][0]);
    }

    [Theory]
    [HardDateData]
    public async Task IngestEvents_ReplayOlderThanWindow_QuarantinedAndNotCounted(string at)
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var admin = await identity.AdminAsync();
        var now = HardDates.Parse(at);
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        // A subscription in the middle of its cycle: the fresh call counts in the current cycle
        // (the old one is outside the 7-day window, whatever cycle it falls in).
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
        var fresh = sub.Call(now.AddMinutes(-1));
        var old = sub.Call(now.AddDays(-8));
        Assert.True(Cycles.Containing(sub.Start, now).Contains(fresh.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds()));
        await usage.Client.IngestAsync([fresh]);

        var result = await usage.Client.IngestAsync([old, fresh]);
        var again = await usage.Client.IngestAsync([old]);

        Assert.Equal((0, 1, 1), (result.Accepted, result.Duplicates, result.Quarantined));
        Assert.Equal((0, 0, 1), (again.Accepted, again.Duplicates, again.Quarantined));
        Assert.Equal(1, (await usage.Client.QuotaAsync(consumer.Token, sub.Id)).Used);
        var quarantined = await usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(admin.Token));
        var entry = Assert.Single(quarantined.Events);
        Assert.Equal(old.EventId, entry.Event.EventId);
        Assert.Equal(QuarantineReason.OutsideWindow, entry.Reason);
        Assert.Equal(old, entry.Event);
        // Quarantine is for administrators and billing managers only.
        var billing = await identity.BillingManagerAsync();
        Assert.Single((await usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(billing.Token))).Events);
        var denied = await Assert.ThrowsAsync<RpcException>(() =>
            usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(consumer.Token)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
    }

    [Fact]
    public async Task IngestEvents_FutureAndMalformedEvents_QuarantinedOnceWithReason()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var admin = await identity.AdminAsync();
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
        var future = sub.Call(now.AddHours(1));
        var withQuery = sub.Call(now);
        withQuery.Route = "/weather?city=Paris";
        var withoutId = sub.Call(now, id: "");
        var billableWithoutKey = sub.Call(now);
        billableWithoutKey.KeyId = "";
        var good = sub.Call(now);
        List<UsageEvent> batch = [future, withQuery, withoutId, billableWithoutKey, good];

        var result = await usage.Client.IngestAsync(batch);
        var retried = await usage.Client.IngestAsync(batch);

        Assert.Equal((1, 0, 4), (result.Accepted, result.Duplicates, result.Quarantined));
        Assert.Equal((0, 1, 4), (retried.Accepted, retried.Duplicates, retried.Quarantined));
        var list = await usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(admin.Token));
        Assert.Equal(4, list.Events.Count);
        Assert.Equal(QuarantineReason.Future, list.Events.Single(e => e.Event.EventId == future.EventId).Reason);
        var route = list.Events.Single(e => e.Event.EventId == withQuery.EventId);
        Assert.Equal(QuarantineReason.Invalid, route.Reason);
        Assert.StartsWith("route", route.Detail);
        Assert.Contains(list.Events, e => e.Event.EventId == "" && e.Reason == QuarantineReason.Invalid);
        Assert.Equal(1, (await usage.Client.QuotaAsync(consumer.Token, sub.Id)).Used);
    }

    [Fact]
    public async Task IngestEvents_LowerAndMixedCaseMethods_NormalisedAndCountedQuarantinedBillableMeasured()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var usage = new UsageHost(identity, time: time);
        usage.Start();
        using var quarantinedBillable = new MeterCounter(usage.Services.GetRequiredService<IMeterFactory>(), UsageMetrics.MeterName,
            "veil.usage.quarantined.billable");
        var now = time.GetUtcNow();
        var sub = Sub.New(consumer.Id, "acc_provider", now.AddDays(-3), quota: 100, overage: false);
        UsageEvent Call(string method, int minutesAgo, bool billable = true)
        {
            var call = sub.Call(now.AddMinutes(-minutesAgo), billable);
            call.Method = method;
            return call;
        }

        // Single events and a group (whose context carries the method once), as edges before the fix sent them.
        var single = await usage.Client.IngestAsync([Call("get", 9), Call("pOsT", 8), Call("GET", 7)]);
        var grouped = await usage.Client.IngestAsync(IngestEventsRequest.Grouped([Call("Delete", 6), Call("Delete", 5)]));
        // Still not a method after normalising: quarantined, and the billable one is measured.
        var invalid = await usage.Client.IngestAsync([Call("get-ish", 4), Call("get-ish", 3, billable: false)]);
        var future = await usage.Client.IngestAsync([sub.Call(now.AddHours(1))]);

        Assert.Equal((3, 0, 0), (single.Accepted, single.Duplicates, single.Quarantined));
        Assert.Equal((2, 0, 0), (grouped.Accepted, grouped.Duplicates, grouped.Quarantined));
        Assert.Equal((0, 0, 2), (invalid.Accepted, invalid.Duplicates, invalid.Quarantined));
        Assert.Equal((0, 0, 1), (future.Accepted, future.Duplicates, future.Quarantined));
        var status = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        Assert.Equal((5, 5), (status.Used, status.TotalCalls));
        var methods = await usage.QueryAsync("SELECT DISTINCT method FROM contexts ORDER BY method");
        Assert.Equal(["DELETE", "GET", "POST"], methods.Select(r => (string)r[0]!));
        Assert.Equal(2, quarantinedBillable.Total);
    }

    [Fact]
    public async Task IngestEvents_NonAsciiAndLongValues_StoredExactly()
    {
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var sub = Sub.New("acc_c", "acc_p", Cycles.AnchorMidCycle(now));
        var unicode = sub.Call(now.AddMinutes(-1));
        unicode.Route = "/météo/{ville}/天気/😀";
        var longRoute = sub.Call(now.AddMinutes(-1));
        longRoute.Route = "/" + string.Concat(Enumerable.Repeat("ab{c}é", 80));
        var empty = sub.Call(now.AddMinutes(-1), billable: false);
        empty.EdgeId = "";
        empty.KeyId = "";

        var result = await usage.Client.IngestAsync([unicode, longRoute, empty]);

        Assert.Equal(3, result.Accepted);
        var rows = await usage.QueryAsync($"SELECT e.event_id, c.route, c.edge_id, c.key_id FROM events e JOIN contexts c ON c.id = e.context_id ORDER BY e.id");
        Assert.Equal(
            [(unicode.EventId, unicode.Route, "edge-test", sub.KeyId), (longRoute.EventId, longRoute.Route, "edge-test", sub.KeyId), (empty.EventId, empty.Route, "", "")],
            rows.Select(r => ((string)r[0]!, (string)r[1]!, (string)r[2]!, (string)r[3]!)));
    }

    [Fact]
    public async Task IngestEvents_AfterRestart_KeepsCountsAndDeduplicates()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var data = Directory.CreateTempSubdirectory("veil-usage-restart-").FullName;
        try
        {
            var now = HardDates.Ordinary;
            var sub = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now));
            var events = sub.Calls(50, now.AddMinutes(-5));
            await using (var first = new UsageHost(identity, data, new ClockAt(now)))
            {
                Assert.Equal(50, (await first.Client.IngestAsync(events)).Accepted);
            }

            await using var second = new UsageHost(identity, data, new ClockAt(now.AddMinutes(1)));
            var replay = await second.Client.IngestAsync(events);

            Assert.Equal((0, 50), (replay.Accepted, replay.Duplicates));
            Assert.Equal(50, (await second.Client.QuotaAsync(consumer.Token, sub.Id)).Used);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task IngestEvents_EmptyOrOversizedBatch_InvalidArgument()
    {
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        usage.With("Usage:MaxBatchSize", "10");
        var sub = Sub.New("acc_c", "acc_p", Cycles.AnchorMidCycle(now));

        var empty = await Assert.ThrowsAsync<RpcException>(() => usage.Client.IngestAsync([]));
        var oversized = await Assert.ThrowsAsync<RpcException>(() => usage.Client.IngestAsync(sub.Calls(11, now.AddMinutes(-1))));

        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, oversized.StatusCode);
        Assert.Empty(await usage.QueryAsync("SELECT 1 FROM events"));
    }
}
