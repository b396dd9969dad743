using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Billing;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

public sealed class QuotaTests(IdentityFixture identity)
{
    private static DateTimeOffset Utc(int year, int month, int day, int hour = 10, int minute = 0) =>
        new(year, month, day, hour, minute, 0, TimeSpan.Zero);

    [Theory]
    // Anchored on the 31st: short months end on their last day, later cycles return to the 31st.
    [InlineData("2025-01-31T10:00:00Z", "2025-02-15T00:00:00Z", "2025-01-31T10:00:00Z", "2025-02-28T10:00:00Z")]
    [InlineData("2025-01-31T10:00:00Z", "2025-02-28T10:00:00Z", "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z")]
    [InlineData("2025-01-31T10:00:00Z", "2025-03-30T23:59:59Z", "2025-02-28T10:00:00Z", "2025-03-31T10:00:00Z")]
    [InlineData("2025-01-31T10:00:00Z", "2025-04-30T09:59:59Z", "2025-03-31T10:00:00Z", "2025-04-30T10:00:00Z")]
    [InlineData("2024-01-31T10:00:00Z", "2024-02-29T10:00:00Z", "2024-02-29T10:00:00Z", "2024-03-31T10:00:00Z")]
    // Leap-day anchor: Feb 28 in common years, back to the 29th when there is one.
    [InlineData("2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z", "2025-02-28T00:00:00Z", "2025-03-29T00:00:00Z")]
    [InlineData("2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z")]
    // Mid-month anchor, across a year end; the time of day is part of the anchor.
    [InlineData("2025-11-15T08:30:00Z", "2026-01-15T08:29:59Z", "2025-12-15T08:30:00Z", "2026-01-15T08:30:00Z")]
    [InlineData("2025-11-15T08:30:00Z", "2026-01-15T08:30:00Z", "2026-01-15T08:30:00Z", "2026-02-15T08:30:00Z")]
    // Before the anchor (edge clock behind): the first cycle.
    [InlineData("2025-05-20T12:00:00Z", "2025-05-20T11:59:00Z", "2025-05-20T12:00:00Z", "2025-06-20T12:00:00Z")]
    public void BillingCycle_Containing_AnchoredOnSubscriptionStart(string anchor, string at, string start, string end)
    {
        var cycle = BillingCycle.Containing(DateTimeOffset.Parse(anchor).ToUnixTimeMilliseconds(), DateTimeOffset.Parse(at).ToUnixTimeMilliseconds());

        Assert.Equal((DateTimeOffset.Parse(start), DateTimeOffset.Parse(end)), (cycle.Start, cycle.End));
    }

    [Fact]
    public async Task GetQuotaStatus_MonthEndAnchor_CountsPerCycleAndResets()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(Utc(2024, 1, 31));
        await using var usage = new UsageHost(identity, time: time);
        var sub = Sub.New(consumer.Id, "acc_provider", Utc(2024, 1, 31), quota: 100, overage: false);

        await usage.Client.IngestAsync(sub.Calls(3, Utc(2024, 1, 31)));
        var first = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        time.SetUtcNow(Utc(2024, 2, 29, 9, 59));
        await usage.Client.IngestAsync(sub.Calls(2, Utc(2024, 2, 29, 9, 58)));
        var lastMinute = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        time.SetUtcNow(Utc(2024, 2, 29));
        var reset = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        await usage.Client.IngestAsync([sub.Call(Utc(2024, 2, 29, 10, 1), billable: true), sub.Call(Utc(2024, 2, 29, 10, 2), billable: false)]);
        var second = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        time.SetUtcNow(Utc(2024, 3, 31));
        var third = await usage.Client.QuotaAsync(consumer.Token, sub.Id);

        Assert.Equal((Utc(2024, 1, 31), Utc(2024, 2, 29), 3L, 97L), (first.CycleStart.ToDateTimeOffset(), first.CycleEnd.ToDateTimeOffset(), first.Used, first.Remaining));
        Assert.Equal((Utc(2024, 1, 31), 5L), (lastMinute.CycleStart.ToDateTimeOffset(), lastMinute.Used));
        Assert.Equal((Utc(2024, 2, 29), Utc(2024, 3, 31), 0L, 100L), (reset.CycleStart.ToDateTimeOffset(), reset.CycleEnd.ToDateTimeOffset(), reset.Used, reset.Remaining));
        Assert.Equal((1L, 2L, false), (second.Used, second.TotalCalls, second.Exhausted));
        Assert.Equal((Utc(2024, 3, 31), Utc(2024, 4, 30), 0L), (third.CycleStart.ToDateTimeOffset(), third.CycleEnd.ToDateTimeOffset(), third.Used));
    }

    [Theory]
    [HardDateData]
    public async Task GetQuotaStatus_OverageAndUnlimitedPlans_ReportOverageAndNoLimit(string at)
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Parse(at);
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var anchor = Cycles.AnchorMidCycle(now);
        var overage = Sub.New(consumer.Id, "acc_provider", anchor, quota: 5, overage: true);
        var unlimited = Sub.New(consumer.Id, "acc_provider", anchor, quota: 0);
        await usage.Client.IngestAsync([.. overage.Calls(8, now.AddMinutes(-5)), .. unlimited.Calls(8, now.AddMinutes(-5))]);

        var o = await usage.Client.QuotaAsync(consumer.Token, overage.Id);
        var u = await usage.Client.QuotaAsync(consumer.Token, unlimited.Id);

        Assert.Equal((8L, 0L, true, 3L, true), (o.Used, o.Remaining, o.Exhausted, o.OverageCalls, o.OverageAllowed));
        Assert.Equal((8L, true, false, 0L), (u.Used, u.Unlimited, u.Exhausted, u.OverageCalls));
        var missing = await Assert.ThrowsAsync<RpcException>(() => usage.Client.QuotaAsync(consumer.Token, "sub_never_seen"));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task WatchQuotaStates_HardCapReachedThenCycleEnds_PushesExhaustionAndReset()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(Utc(2025, 3, 10));
        await using var usage = new UsageHost(identity, time: time);
        var hard = Sub.New(consumer.Id, "acc_provider", Utc(2025, 2, 15, 12), quota: 10, overage: false);
        var soft = Sub.New(consumer.Id, "acc_provider", Utc(2025, 2, 15, 12), quota: 10, overage: true);
        using var watch = usage.Client.WatchQuotaStates(new WatchQuotaStatesRequest { EdgeId = "edge-test" }, Api.Call());
        var stream = watch.ResponseStream;

        var initial = await NextAsync(stream);
        await usage.Client.IngestAsync([.. hard.Calls(9, Utc(2025, 3, 9)), .. soft.Calls(15, Utc(2025, 3, 9))]);
        await usage.Client.IngestAsync([hard.Call(Utc(2025, 3, 9, 11)), hard.Call(Utc(2025, 3, 9, 12))]);
        var exhausted = await NextAsync(stream);
        time.SetUtcNow(Utc(2025, 3, 15, 12, 1));
        var reset = await NextAsync(stream);

        Assert.Empty(initial.Exhausted);
        var entry = Assert.Single(exhausted.Exhausted);
        Assert.Equal((hard.Id, consumer.Id, hard.ApiId), (entry.SubscriptionId, entry.ConsumerId, entry.ApiId));
        Assert.Equal((Utc(2025, 2, 15, 12), Utc(2025, 3, 15, 12), 11L, 10L),
            (entry.CycleStart.ToDateTimeOffset(), entry.CycleEnd.ToDateTimeOffset(), entry.Used, entry.MonthlyQuota));
        Assert.True(exhausted.Revision > initial.Revision);
        Assert.Empty(reset.Exhausted);
        Assert.True(reset.Revision > exhausted.Revision);
        var status = await usage.Client.QuotaAsync(consumer.Token, hard.Id);
        Assert.Equal((Utc(2025, 3, 15, 12), 0L, false), (status.CycleStart.ToDateTimeOffset(), status.Used, status.Exhausted));
    }

    [Fact]
    public async Task WatchQuotaStates_NewWatcher_StartsWithCurrentSet()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var hard = Sub.New(consumer.Id, "acc_provider", Cycles.AnchorMidCycle(now), quota: 3, overage: false);
        await usage.Client.IngestAsync(hard.Calls(3, now.AddMinutes(-2)));

        // The first message a new watcher gets is the whole current set (after the refresh the ingest asked for).
        await Eventually.HoldsAsync(async () =>
        {
            using var watch = usage.Client.WatchQuotaStates(new WatchQuotaStatesRequest(), Api.Call());
            var first = await NextAsync(watch.ResponseStream);
            return first.Exhausted.Any(e => e.SubscriptionId == hard.Id);
        }, TimeSpan.FromSeconds(10), "a watcher that connects after exhaustion sees it in its first message");
    }

    /// <summary>
    /// The documented anchoring rule (docs/usage-and-billing.md#quotas-and-billing-cycles), on subscriptions
    /// that start on each hard date: the next three renewals, written out by hand.
    /// </summary>
    [Theory]
    [InlineData("2026-01-31T12:00:00Z", "2026-02-28T12:00:00Z", "2026-03-31T12:00:00Z", "2026-04-30T12:00:00Z")]
    [InlineData("2026-02-28T12:00:00Z", "2026-03-28T12:00:00Z", "2026-04-28T12:00:00Z", "2026-05-28T12:00:00Z")]
    [InlineData("2028-02-29T12:00:00Z", "2028-03-29T12:00:00Z", "2028-04-29T12:00:00Z", "2028-05-29T12:00:00Z")]
    [InlineData("2026-12-07T19:00:00Z", "2027-01-07T19:00:00Z", "2027-02-07T19:00:00Z", "2027-03-07T19:00:00Z")]
    [InlineData("2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z")]
    [InlineData("2026-04-30T23:59:59.999Z", "2026-05-30T23:59:59.999Z", "2026-06-30T23:59:59.999Z", "2026-07-30T23:59:59.999Z")]
    [InlineData("2026-12-31T23:59:59.999Z", "2027-01-31T23:59:59.999Z", "2027-02-28T23:59:59.999Z", "2027-03-31T23:59:59.999Z")]
    [InlineData("2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z")]
    // Anchored on the 29th: February 28 in a common year, back to the 29th in March.
    [InlineData("2027-01-29T06:00:00Z", "2027-02-28T06:00:00Z", "2027-03-29T06:00:00Z", "2027-04-29T06:00:00Z")]
    // Anchored on the 29th in a leap year: February 29.
    [InlineData("2028-01-29T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-29T00:00:00Z", "2028-04-29T00:00:00Z")]
    public void BillingCycle_StartedOnAHardDate_RenewsOnTheDocumentedDays(string start, string first, string second, string third)
    {
        var anchor = HardDates.Parse(start);
        var renewals = new List<DateTimeOffset>();
        var cycle = Cycles.Containing(anchor, anchor);
        for (var i = 0; i < 3; i++)
        {
            renewals.Add(cycle.End);
            cycle = Cycles.Containing(anchor, cycle.End);
        }

        Assert.Equal(anchor, Cycles.Containing(anchor, anchor).Start);
        Assert.Equal([HardDates.Parse(first), HardDates.Parse(second), HardDates.Parse(third)], renewals);
    }

    /// <summary>
    /// For anchors on every hard date and on the 29th, 30th and 31st of a month, four years of
    /// cycles tile time: each starts where the last ended and holds its first and last
    /// millisecond and nothing of its neighbours, so no instant is counted in two cycles or none.
    /// </summary>
    [Theory]
    [HardDateData]
    [InlineData("2027-01-29T00:00:00Z")]
    [InlineData("2027-01-30T23:59:59.999Z")]
    [InlineData("2027-03-31T00:00:00.001Z")]
    public void BillingCycle_FourYearsFromAHardDate_CyclesTileTime(string start)
    {
        var anchor = HardDates.Parse(start);
        var anchorMs = anchor.ToUnixTimeMilliseconds();
        var cycle = BillingCycle.Containing(anchorMs, anchorMs);
        for (var n = 0; n < 48; n++)
        {
            var next = BillingCycle.Containing(anchorMs, cycle.EndMs);
            Assert.True(cycle.StartMs < cycle.EndMs, $"cycle {n} is empty");
            Assert.Equal(cycle.EndMs, next.StartMs);
            Assert.Equal(cycle, BillingCycle.Containing(anchorMs, cycle.StartMs));
            Assert.Equal(cycle, BillingCycle.Containing(anchorMs, cycle.EndMs - 1));
            Assert.False(cycle.Contains(cycle.EndMs));
            Assert.False(next.Contains(cycle.EndMs - 1));
            // The renewal keeps the anchor's time of day, and its day unless the month is shorter.
            var end = cycle.End.UtcDateTime;
            Assert.Equal(anchor.UtcDateTime.TimeOfDay, end.TimeOfDay);
            Assert.Equal(Math.Min(anchor.Day, DateTime.DaysInMonth(end.Year, end.Month)), end.Day);
            cycle = next;
        }
    }

    /// <summary>
    /// A subscription that started on a hard date, at its first renewal: the call in the first
    /// cycle's last millisecond counts there, the call at the renewal instant in the second, and
    /// the quota and the recount from raw events agree, each call in exactly one cycle.
    /// </summary>
    [Theory]
    [HardDateData]
    public async Task GetQuotaStatus_AtTheFirstRenewal_EveryCallInExactlyOneCycle(string start)
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var anchor = HardDates.Parse(start);
        var renewal = Cycles.Containing(anchor, anchor).End;
        var secondEnd = Cycles.Containing(anchor, renewal).End;
        var time = new FakeTimeProvider(renewal.AddMinutes(1));
        await using var usage = new UsageHost(identity, time: time);
        var sub = Sub.New(consumer.Id, "acc_provider", anchor, quota: 100, overage: false);

        await usage.Client.IngestAsync([
            sub.Call(renewal.AddDays(-1)), sub.Call(renewal.AddMilliseconds(-1)),
            sub.Call(renewal), sub.Call(renewal.AddSeconds(30)), sub.Call(renewal.AddSeconds(31), billable: false)]);
        var status = await usage.Client.QuotaAsync(consumer.Token, sub.Id);
        var cycles = await usage.Client.ListCycleUsageAsync(
            new ListCycleUsageRequest { SubscriptionId = sub.Id, RecountFromEvents = true }, Api.Call());

        Assert.Equal((renewal, secondEnd, 2L, 3L),
            (status.CycleStart.ToDateTimeOffset(), status.CycleEnd.ToDateTimeOffset(), status.Used, status.TotalCalls));
        Assert.Equal([(anchor, renewal, 2L, 2L), (renewal, secondEnd, 3L, 2L)],
            cycles.Cycles.Select(c => (c.CycleStart.ToDateTimeOffset(), c.CycleEnd.ToDateTimeOffset(), c.TotalCalls, c.BillableCalls)));
    }

    private static async Task<QuotaStates> NextAsync(IAsyncStreamReader<QuotaStates> stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Api.Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        Assert.True(await stream.MoveNext(timeout.Token), "the stream ended");
        return stream.Current;
    }
}
