using System.Net;
using Grpc.Core;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

public sealed class QueryTests(IdentityFixture identity)
{
    [Theory]
    [InlineData("MINUTE", 60_000L)]
    [InlineData("HOUR", 3_600_000L)]
    [InlineData("DAY", 86_400_000L)]
    public async Task QueryUsage_EachGranularity_BucketsMatchRawEvents(string granularity, long unitMs)
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var random = new Random(7);
        var subA = Sub.New(consumer.Id, "acc_provider", now.AddDays(-40));
        var subB = Sub.New(consumer.Id, "acc_provider", now.AddDays(-40));
        // 3 days of calls, some not billable, shipped in shuffled batches.
        var events = Enumerable.Range(0, 3000)
            .Select(i => (i % 3 == 0 ? subB : subA).Call(now.AddMilliseconds(-random.NextInt64(1, 3L * 86_400_000)),
                billable: i % 7 != 0, bytesIn: i % 50, bytesOut: i))
            .ToList();
        foreach (var batch in events.OrderBy(_ => random.Next()).Chunk(400))
        {
            await usage.Client.IngestAsync(batch);
        }
        await usage.RolledUpAsync();

        var start = granularity == "MINUTE" ? now.AddDays(-2) : now.AddDays(-4);
        var response = await usage.Client.QueryAsync(consumer.Token, new QueryUsageRequest
        {
            Granularity = granularity,
            StartTime = Api.Ts(start),
            EndTime = Api.Ts(now),
            ApiId = subA.ApiId,
        });

        var startMs = start.ToUnixTimeMilliseconds() / unitMs * unitMs;
        var expected = events
            .Where(e => e.ApiId == subA.ApiId)
            .Select(e => (Event: e, Ms: e.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds()))
            .Where(x => x.Ms >= startMs && x.Ms < now.ToUnixTimeMilliseconds())
            .GroupBy(x => x.Ms / unitMs * unitMs)
            .OrderBy(g => g.Key)
            .Select(g => $"{g.Key} {g.Count()} {g.Count(x => x.Event.Billable)} {g.Sum(x => x.Event.BytesIn)} {g.Sum(x => x.Event.BytesOut)}")
            .ToList();
        var actual = response.Buckets
            .Select(b => $"{b.StartTime.ToDateTimeOffset().ToUnixTimeMilliseconds()} {b.TotalCalls} {b.BillableCalls} {b.BytesIn} {b.BytesOut}")
            .ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, actual);
        Assert.Equal(granularity, response.Granularity);
        Assert.Equal(response.Buckets.Sum(b => b.TotalCalls), response.Totals.TotalCalls);
        // Every granularity adds up to the raw events (the roller's watermark is exact).
        var sums = await usage.QueryAsync("SELECT granularity, SUM(total_calls), SUM(billable_calls) FROM rollups GROUP BY granularity ORDER BY granularity");
        Assert.All(sums, row => Assert.Equal((3000L, (long)events.Count(e => e.Billable)), ((long)row[1]!, (long)row[2]!)));
    }

    [Fact]
    public async Task QueryUsage_ConsumersProvidersAdmins_SeeOnlyWhatIsTheirs()
    {
        var consumerA = await identity.SignUpAsync(Role.Consumer);
        var consumerB = await identity.SignUpAsync(Role.Consumer);
        var provider1 = await identity.SignUpAsync(Role.Provider);
        var provider2 = await identity.SignUpAsync(Role.Provider);
        var admin = await identity.AdminAsync();
        var billing = await identity.BillingManagerAsync();
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        var a1 = Sub.New(consumerA.Id, provider1.Id, now.AddDays(-5));
        var a2 = Sub.New(consumerA.Id, provider2.Id, now.AddDays(-5));
        var b1 = Sub.New(consumerB.Id, provider1.Id, now.AddDays(-5), apiId: a1.ApiId);
        await usage.Client.IngestAsync([.. a1.Calls(5, now.AddMinutes(-10)), .. a2.Calls(7, now.AddMinutes(-10)), .. b1.Calls(11, now.AddMinutes(-10))]);
        await usage.RolledUpAsync();

        async Task<long> Total(Account who, string? apiId = null, string? subscriptionId = null) =>
            (await usage.Client.QueryAsync(who.Token, new QueryUsageRequest
            {
                ApiId = apiId ?? "",
                SubscriptionId = subscriptionId ?? "",
                StartTime = Api.Ts(now.AddHours(-1)),
            })).Totals.TotalCalls;

        Assert.Equal(12, await Total(consumerA));
        Assert.Equal(5, await Total(consumerA, apiId: a1.ApiId));
        Assert.Equal(0, await Total(consumerA, subscriptionId: b1.Id));
        Assert.Equal(11, await Total(consumerB));
        Assert.Equal(16, await Total(provider1));
        Assert.Equal(0, await Total(provider1, apiId: a2.ApiId));
        Assert.Equal(7, await Total(provider2));
        Assert.Equal(23, await Total(admin));
        Assert.Equal(23, await Total(billing));

        // Another tenant's subscription does not exist for the caller.
        var hidden = await Assert.ThrowsAsync<RpcException>(() => usage.Client.QuotaAsync(consumerA.Token, b1.Id));
        Assert.Equal(StatusCode.NotFound, hidden.StatusCode);
        var foreign = await Assert.ThrowsAsync<RpcException>(() => usage.Client.QuotaAsync(provider2.Token, a1.Id));
        Assert.Equal(StatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(11, (await usage.Client.QuotaAsync(provider1.Token, b1.Id)).Used);
        Assert.Equal(7, (await usage.Client.QuotaAsync(admin.Token, a2.Id)).Used);
        Assert.Equal(5, (await usage.Client.QuotaAsync(billing.Token, a1.Id)).Used);
    }

    [Fact]
    public async Task QueryUsage_OverRest_TranscodedWithQueryParameters()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var now = HardDates.Ordinary;
        await using var usage = new UsageHost(identity, time: new ClockAt(now));
        using var rest = usage.CreateRestClient();
        var sub = Sub.New(consumer.Id, "acc_provider", now.AddDays(-5));
        await usage.Client.IngestAsync(sub.Calls(4, now.AddMinutes(-3)));
        await usage.RolledUpAsync();

        var ok = await rest.SendAsync(HttpMethod.Get, $"v1/usage?subscription_id={sub.Id}&granularity=minute&start_time={now.AddMinutes(-30):yyyy-MM-ddTHH:mm:ssZ}", consumer.Token);
        var anonymous = await rest.SendAsync(HttpMethod.Get, "v1/usage", token: null);
        var quota = await rest.SendAsync(HttpMethod.Get, $"v1/usage/quota/{sub.Id}", consumer.Token);

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var body = await ok.JsonAsync();
        Assert.Equal("MINUTE", (string?)body["granularity"]);
        Assert.Equal(4, (long)body["totals"]!["totalCalls"]!);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, quota.StatusCode);
        Assert.Equal(4, (long)(await quota.JsonAsync())["status"]!["used"]!);
    }

    [Fact]
    public async Task QueryUsage_BadRanges_ProblemWithFieldErrors()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var usage = new UsageHost(identity);
        using var rest = usage.CreateRestClient();

        var granularity = await rest.SendAsync(HttpMethod.Get, "v1/usage?granularity=WEEK", consumer.Token);
        var reversed = await rest.SendAsync(HttpMethod.Get, "v1/usage?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", consumer.Token);
        var tooLong = await rest.SendAsync(HttpMethod.Get, "v1/usage?granularity=MINUTE&start_time=2026-01-01T00:00:00Z&end_time=2026-01-05T00:00:00Z", consumer.Token);
        var days = await rest.SendAsync(HttpMethod.Get, "v1/usage?granularity=DAY&start_time=2025-01-01T00:00:00Z&end_time=2026-03-01T00:00:00Z", consumer.Token);

        await AssertFieldErrorAsync(granularity, "granularity");
        await AssertFieldErrorAsync(reversed, "endTime");
        await AssertFieldErrorAsync(tooLong, "endTime");
        await AssertFieldErrorAsync(days, "endTime");
    }

    internal static async Task AssertFieldErrorAsync(HttpResponseMessage response, params string[] fields)
    {
        var text = await response.Content.ReadAsStringAsync(Api.Ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = (await response.JsonAsync())["errors"]!.AsObject();
        Assert.Equal(fields.Order(), errors.Select(e => e.Key).Order());
    }
}
