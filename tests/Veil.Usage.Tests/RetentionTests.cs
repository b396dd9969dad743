using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Billing;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

/// <summary>
/// The retention job on a clock the test moves: what goes (old raw events with their ids, old
/// quarantine), what stays (recent events, anything the rollups have not folded in, the newest
/// event), and that counts, rollups and deduplication are unchanged by it.
/// </summary>
public sealed class RetentionTests(IdentityFixture identity)
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 10, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [HardDateData]
    public async Task RunOnce_OldEventsAndQuarantine_DeletedRecentKeptTotalsUnchanged(string at)
    {
        var t0 = HardDates.Parse(at);
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(t0);
        await using var usage = Manual(time);
        var sub = Sub.New(consumer.Id, "acc_provider", t0.AddDays(-1));
        var old = Mixed(sub, 40, t0.AddHours(-2));
        var oldInvalid = Invalid(sub, t0);
        await usage.Client.IngestAsync([.. old, oldInvalid]);
        time.Advance(TimeSpan.FromDays(50));
        var recent = Mixed(sub, 25, time.GetUtcNow().AddHours(-2));
        var recentInvalid = Invalid(sub, time.GetUtcNow());
        await usage.Client.IngestAsync([.. recent, recentInvalid]);
        await usage.RolledUpAsync();
        // 96 days after the first batch: past the 95-day default; the second batch is 46 days old.
        time.Advance(TimeSpan.FromDays(46));
        var before = await DailyAsync(usage, consumer, t0.AddDays(-2));
        var cyclesBefore = await CyclesAsync(usage, sub, recount: false);

        var result = await usage.Retention.RunOnceAsync(Api.Ct);

        // Every call-log row goes too: all 65 calls are older than its 7 days.
        Assert.Equal(new RetentionResult(40, 1, 65), result);
        var ids = (await usage.QueryAsync("SELECT event_id FROM events ORDER BY id")).Select(r => (string)r[0]!);
        Assert.Equal(recent.Select(e => e.EventId), ids);
        var quarantine = await usage.QueryAsync("SELECT quarantine_key FROM quarantine");
        Assert.Equal(recentInvalid.EventId, (string)Assert.Single(quarantine)[0]!);
        // Rollups and counters are not raw events: queries and quotas answer as before.
        Assert.Equal(before, await DailyAsync(usage, consumer, t0.AddDays(-2)));
        Assert.Equal(65, before.Sum(b => b.TotalCalls));
        Assert.Equal(cyclesBefore, await CyclesAsync(usage, sub, recount: false));
        // Billing's recount of the cycle it still reconciles (ended 37 days ago) is intact.
        var recounted = await CyclesAsync(usage, sub, recount: true);
        Assert.Equal(cyclesBefore.Single(c => c.Start == Cycle(sub, recent[0]).Start), recounted.Single(c => c.Start == Cycle(sub, recent[0]).Start));
    }

    [Fact]
    public async Task Replay_IdDeletedByRetention_QuarantinedNotCountedAgain()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(T0);
        await using var usage = Manual(time);
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-1));
        var old = Mixed(sub, 20, T0.AddMinutes(-30));
        await usage.Client.IngestAsync(old);
        time.Advance(TimeSpan.FromDays(96));
        var recent = Mixed(sub, 5, time.GetUtcNow().AddMinutes(-30));
        await usage.Client.IngestAsync(recent);
        await usage.RolledUpAsync();
        Assert.Equal(20, (await usage.Retention.RunOnceAsync(Api.Ct)).Events);
        var before = await DailyAsync(usage, consumer);
        var cyclesBefore = await CyclesAsync(usage, sub, recount: false);

        var replay = await usage.Client.IngestAsync(old);

        // The ids are gone from the dedup records, but the events are older than the window.
        Assert.Equal((0, 0, 20), (replay.Accepted, replay.Duplicates, replay.Quarantined));
        Assert.Equal(20L, (await usage.QueryAsync("SELECT COUNT(*) FROM quarantine WHERE reason = 1"))[0][0]);
        Assert.Equal(5L, (await usage.QueryAsync("SELECT COUNT(*) FROM events"))[0][0]);
        await usage.RolledUpAsync();
        Assert.Equal(before, await DailyAsync(usage, consumer));
        Assert.Equal(cyclesBefore, await CyclesAsync(usage, sub, recount: false));
        Assert.Equal(25, before.Sum(b => b.TotalCalls));
    }

    [Fact]
    public async Task RunOnce_EventsNotRolledUp_KeptUntilRolledUpThenNewestSurvives()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var data = Directory.CreateTempSubdirectory("veil-usage-retention-").FullName;
        try
        {
            var time = new FakeTimeProvider(T0);
            var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-1));
            var events = sub.Calls(30, T0.AddHours(-1));
            await using (var first = Manual(time, data))
            {
                // The roller waits a (real) minute after the first ingest: the events stay past its watermark.
                first.With("Usage:RollupInterval", "00:01:00");
                await first.Client.IngestAsync(events);
                time.Advance(TimeSpan.FromDays(100));

                var pending = await first.Retention.RunOnceAsync(Api.Ct);

                Assert.Equal(0, pending.Events);
                Assert.Equal(30L, (await first.QueryAsync("SELECT COUNT(*) FROM events"))[0][0]);
                Assert.Equal(0L, (await first.QueryAsync("SELECT last_event_id FROM rollup_watermark"))[0][0]);
            }

            await using var second = Manual(time, data);
            await second.RolledUpAsync();
            var rolled = await second.Retention.RunOnceAsync(Api.Ct);

            // All are old, but the newest row stays: new ids continue above the watermark.
            Assert.Equal(29, rolled.Events);
            var survivor = Assert.Single(await second.QueryAsync("SELECT event_id FROM events"));
            Assert.Equal(events[^1].EventId, survivor[0]);
            var fresh = sub.Calls(7, time.GetUtcNow().AddMinutes(-20));
            Assert.Equal(7, (await second.Client.IngestAsync(fresh)).Accepted);
            await second.RolledUpAsync();
            var days = await DailyAsync(second, consumer, T0.AddDays(-2));
            Assert.Equal(37, days.Sum(b => b.TotalCalls));
            var sums = await second.QueryAsync("SELECT SUM(total_calls) FROM rollups GROUP BY granularity");
            Assert.All(sums, row => Assert.Equal(37L, row[0]));
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the temp folder is cleaned anyway.
            }
        }
    }

    [Fact]
    public async Task RunOnce_SmallBatches_DeletesEverythingOldInSteps()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(T0);
        await using var usage = Manual(time);
        usage.With("Usage:Retention:BatchSize", "100");
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-1));
        // Old events across several steps, a late-shipped one (received later, occurred as long
        // ago) inside the window by its reception, then recent ones.
        await usage.Client.IngestAsync(sub.Calls(1_050, T0.AddHours(-3)));
        time.Advance(TimeSpan.FromDays(5));
        var late = sub.Call(T0.AddDays(-1));
        await usage.Client.IngestAsync([late]);
        time.Advance(TimeSpan.FromDays(91));
        await usage.Client.IngestAsync(sub.Calls(10, time.GetUtcNow().AddMinutes(-15)));
        await usage.RolledUpAsync();

        var result = await usage.Retention.RunOnceAsync(Api.Ct);

        Assert.Equal(1_050, result.Events);
        Assert.Equal(11L, (await usage.QueryAsync("SELECT COUNT(*) FROM events"))[0][0]);
        Assert.Single(await usage.QueryAsync($"SELECT 1 FROM events WHERE event_id = '{late.EventId}'"));
        time.Advance(TimeSpan.FromDays(5));
        Assert.Equal(1, (await usage.Retention.RunOnceAsync(Api.Ct)).Events);
    }

    [Fact]
    public async Task Schedule_IntervalPasses_RunsAndReportsMetrics()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(T0);
        await using var usage = new UsageHost(identity, time: time);
        usage.With("Usage:Retention:Interval", "00:10:00");
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-1));
        await usage.Client.IngestAsync(sub.Calls(12, T0.AddMinutes(-30)));
        time.Advance(TimeSpan.FromDays(96));
        await usage.Client.IngestAsync(sub.Calls(3, time.GetUtcNow().AddMinutes(-5)));
        await usage.RolledUpAsync();

        // The job waits on the fake clock; each poll moves it by one interval.
        await Eventually.HoldsAsync(async () =>
        {
            time.Advance(TimeSpan.FromMinutes(10));
            return (await usage.QueryAsync("SELECT COUNT(*) FROM events"))[0][0] is 3L;
        }, TimeSpan.FromSeconds(20), "the scheduled retention run deletes the old events");

        using var rest = usage.CreateRestClient();
        string metrics = "";
        await Eventually.HoldsAsync(async () =>
        {
            metrics = await rest.GetStringAsync("metrics", Api.Ct);
            return metrics.Contains("veil_usage_retention_last_run", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), "the last run is reported");
        Assert.Contains("veil_usage_retention_deleted", metrics);
        Assert.Contains("veil_table=\"events\"", metrics);
        Assert.Contains("veil_outcome=\"succeeded\"", metrics);
    }

    [Theory]
    [InlineData("Usage:DedupWindow", "120.00:00:00", "Usage:Retention:RawEvents must not be shorter than Usage:DedupWindow")]
    [InlineData("Usage:Retention:ReconciliationLookback", "70.00:00:00", "ReconciliationLookback + 32 days")]
    [InlineData("Usage:Retention:RawEvents", "6.00:00:00", "RawEvents")]
    [InlineData("Usage:Retention:BatchSize", "10", "BatchSize")]
    [InlineData("Usage:Retention:Quarantine", "00:10:00", "Quarantine")]
    public async Task Start_RetentionInconsistent_RefusedNamingIt(string key, string value, string expected)
    {
        await using var usage = new UsageHost(identity);
        usage.With(key, value);

        var ex = Assert.ThrowsAny<Exception>(() => usage.Start());

        var validation = ex as OptionsValidationException ?? ex.InnerException as OptionsValidationException
            ?? Assert.IsType<OptionsValidationException>(ex.GetBaseException());
        Assert.Contains(expected, string.Join(" ", validation.Failures));
    }

    /// <summary>
    /// A host whose retention job runs only when the test says: its schedule would otherwise fire
    /// whenever the test moves the clock by days.
    /// </summary>
    private UsageHost Manual(FakeTimeProvider time, string? data = null)
    {
        var usage = new UsageHost(identity, data, time);
        usage.With("Usage:Retention:Enabled", "false");
        return usage;
    }

    /// <summary>Calls one second apart; every third is not billable.</summary>
    private static List<UsageEvent> Mixed(Sub sub, int count, DateTimeOffset from) =>
        Enumerable.Range(0, count).Select(i => sub.Call(from.AddSeconds(i), billable: i % 3 != 0, bytesIn: i, bytesOut: 10 * i)).ToList();

    /// <summary>A malformed event (a query string in the route): quarantined, never counted.</summary>
    private static UsageEvent Invalid(Sub sub, DateTimeOffset at)
    {
        var e = sub.Call(at);
        e.Route = "/weather?city=Oslo";
        return e;
    }

    private static BillingCycle Cycle(Sub sub, UsageEvent e) =>
        BillingCycle.Containing(sub.Start.ToUnixTimeMilliseconds(), e.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds());

    /// <summary>The consumer's daily buckets since <paramref name="from"/> (default: the test's start), as the API answers.</summary>
    private static async Task<List<(DateTimeOffset Start, long TotalCalls, long Billable, long BytesIn, long BytesOut)>> DailyAsync(
        UsageHost usage, Account consumer, DateTimeOffset? from = null)
    {
        var response = await usage.Client.QueryAsync(consumer.Token, new QueryUsageRequest
        {
            Granularity = "DAY",
            StartTime = Api.Ts(from ?? T0.AddDays(-2)),
        });
        return response.Buckets.Select(b => (b.StartTime.ToDateTimeOffset(), b.TotalCalls, b.BillableCalls, b.BytesIn, b.BytesOut)).ToList();
    }

    /// <summary>The subscription's cycles as billing reads them: counters, or a recount from the raw events.</summary>
    private static async Task<List<(DateTimeOffset Start, long Total, long Billable)>> CyclesAsync(UsageHost usage, Sub sub, bool recount)
    {
        var response = await usage.Client.ListCycleUsageAsync(
            new ListCycleUsageRequest { SubscriptionId = sub.Id, RecountFromEvents = recount }, Api.Call()).ResponseAsync;
        return response.Cycles.Select(c => (c.CycleStart.ToDateTimeOffset(), c.TotalCalls, c.BillableCalls)).ToList();
    }
}
