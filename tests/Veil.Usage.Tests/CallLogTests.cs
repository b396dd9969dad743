using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Veil.Identity.V1;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Usage.Tests;

/// <summary>
/// The call log (ListCalls) on a clock the test sets: who sees which calls, the filters, paging,
/// the retention window, and ingest of the call-log fields (old groups without them, bad values).
/// </summary>
public sealed class CallLogTests(IdentityFixture identity)
{
    private static readonly DateTimeOffset T0 = HardDates.Ordinary;

    [Fact]
    public async Task ListCalls_EachRole_SeesExactlyItsTenantsCalls()
    {
        var (consumerA, consumerB) = (await identity.SignUpAsync(Role.Consumer), await identity.SignUpAsync(Role.Consumer));
        var (providerA, providerB) = (await identity.SignUpAsync(Role.Provider), await identity.SignUpAsync(Role.Provider));
        await using var usage = new UsageHost(identity, time: new FakeTimeProvider(T0));
        var subA = Sub.New(consumerA.Id, providerA.Id, T0.AddDays(-3));
        var subB = Sub.New(consumerB.Id, providerB.Id, T0.AddDays(-3));
        var callsA = Enumerable.Range(0, 7).Select(i => Logged(subA, T0.AddMinutes(-30 + i), $"/weather/city-{i}")).ToList();
        var callsB = Enumerable.Range(0, 4).Select(i => Logged(subB, T0.AddMinutes(-20 + i), $"/maps/tile/{i}")).ToList();
        await usage.Client.IngestAsync(IngestEventsRequest.Grouped([.. callsA, .. callsB]));

        var byConsumerA = await ListAsync(usage, consumerA.Token, new ListCallsRequest());
        var byConsumerB = await ListAsync(usage, consumerB.Token, new ListCallsRequest());
        var byProviderA = await ListAsync(usage, providerA.Token, new ListCallsRequest());
        var byProviderB = await ListAsync(usage, providerB.Token, new ListCallsRequest());
        var byAdmin = await ListAsync(usage, (await identity.AdminAsync()).Token, new ListCallsRequest());

        Assert.Equal(Expected(callsA), Describe(byConsumerA));
        Assert.Equal(Expected(callsB), Describe(byConsumerB));
        Assert.Equal(Expected(callsA), Describe(byProviderA));
        Assert.Equal(Expected(callsB), Describe(byProviderB));
        // Another tenant's id as a filter finds nothing either.
        Assert.Empty(await ListAsync(usage, consumerB.Token, new ListCallsRequest { KeyId = subA.KeyId }));
        Assert.Empty(await ListAsync(usage, providerB.Token, new ListCallsRequest { ApiId = subA.ApiId }));
        Assert.Equal(Expected([.. callsA, .. callsB]), Describe(byAdmin.Where(c => c.KeyId == subA.KeyId || c.KeyId == subB.KeyId)));
        // The key prefix is its owner's (and administrators'): part of the key, not the provider's to see.
        Assert.All(byConsumerA, c => Assert.Equal(Prefix(subA), c.KeyPrefix));
        Assert.All(byProviderA, c => Assert.Equal("", c.KeyPrefix));
        Assert.All(byAdmin.Where(c => c.KeyId == subB.KeyId), c => Assert.Equal(Prefix(subB), c.KeyPrefix));
        var first = byConsumerA[0];
        Assert.Equal((subA.ApiId, "GET", 12L, true), (first.ApiId, first.Method, first.LatencyMs, first.Billable));
        Assert.Equal(callsA[^1].EventId, first.EventId);
        Assert.Equal(callsA[^1].OccurredAt, first.RequestTime);
    }

    [Fact]
    public async Task ListCalls_KeyStatusAndTimeFilters_NarrowAndPageNewestFirst()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var usage = new UsageHost(identity, time: new FakeTimeProvider(T0));
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-3));
        var other = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-3), apiId: sub.ApiId);
        int[] statuses = [200, 201, 404, 500, 503, 200, 429, 502];
        var calls = statuses.Select((s, i) => Logged(i % 2 == 0 ? sub : other, T0.AddHours(-10).AddMinutes(i * 10), $"/weather/{i}", s)).ToList();
        await usage.Client.IngestAsync(IngestEventsRequest.Grouped(calls));

        var exact = await ListAsync(usage, consumer.Token, new ListCallsRequest { Status = "200" });
        var serverErrors = await ListAsync(usage, consumer.Token, new ListCallsRequest { Status = "5XX" });
        var byKey = await ListAsync(usage, consumer.Token, new ListCallsRequest { KeyId = other.KeyId });
        var window = await ListAsync(usage, consumer.Token, new ListCallsRequest
        {
            StartTime = Api.Ts(T0.AddHours(-10).AddMinutes(20)),
            EndTime = Api.Ts(T0.AddHours(-10).AddMinutes(50)),
        });
        var paged = await ListAsync(usage, consumer.Token, new ListCallsRequest { PageSize = 3 });

        Assert.Equal(Expected(calls.Where(c => c.StatusCode == 200)), Describe(exact));
        Assert.Equal(Expected(calls.Where(c => c.StatusCode is >= 500 and < 600)), Describe(serverErrors));
        Assert.Equal(Expected(calls.Where(c => c.KeyId == other.KeyId)), Describe(byKey));
        // start inclusive, end exclusive: the calls at +20, +30 and +40 minutes.
        Assert.Equal(Expected(calls.Skip(2).Take(3)), Describe(window));
        Assert.Equal(Expected(calls), Describe(paged));
    }

    [Fact]
    public async Task ListCalls_PastCallLogRetention_NotListedRowsPrunedEventsKept()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var time = new FakeTimeProvider(T0);
        await using var usage = new UsageHost(identity, time: time);
        usage.With("Usage:Retention:Enabled", "false");
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-3));
        var old = Enumerable.Range(0, 5).Select(i => Logged(sub, T0.AddHours(-1).AddMinutes(i), $"/old/{i}")).ToList();
        await usage.Client.IngestAsync(IngestEventsRequest.Grouped(old));
        time.Advance(TimeSpan.FromDays(6));
        var recent = Enumerable.Range(0, 3).Select(i => Logged(sub, time.GetUtcNow().AddHours(-1).AddMinutes(i), $"/new/{i}")).ToList();
        await usage.Client.IngestAsync(IngestEventsRequest.Grouped(recent));
        Assert.Equal(Expected([.. old, .. recent]), Describe(await ListAsync(usage, consumer.Token, new ListCallsRequest())));
        var quotaBefore = await usage.Client.QuotaAsync(consumer.Token, sub.Id);

        // Seven days and an hour after the first calls: past the call log's 7 days, not the events' 95.
        time.Advance(TimeSpan.FromDays(1).Add(TimeSpan.FromHours(1)));
        var listed = await ListAsync(usage, consumer.Token, new ListCallsRequest { StartTime = Api.Ts(T0.AddDays(-1)) });
        var result = await usage.Retention.RunOnceAsync(Api.Ct);

        Assert.Equal(Expected(recent), Describe(listed));
        Assert.Equal(new RetentionResult(0, 0, old.Count), result);
        Assert.Equal(8L, (await usage.QueryAsync("SELECT COUNT(*) FROM events"))[0][0]);
        var paths = (await usage.QueryAsync("SELECT path FROM calls ORDER BY id")).Select(r => (string)r[0]!);
        Assert.Equal(recent.Select(c => c.Path), paths);
        Assert.Equal(Expected(recent), Describe(await ListAsync(usage, consumer.Token, new ListCallsRequest())));
        Assert.Equal(quotaBefore.TotalCalls, (await usage.Client.QuotaAsync(consumer.Token, sub.Id)).TotalCalls);
    }

    [Fact]
    public async Task Ingest_GroupsWithoutCallLogColumns_CountedAndListedWithoutPath()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var usage = new UsageHost(identity, time: new FakeTimeProvider(T0));
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-3));
        // As an edge before the call log ships them: no request_ids or paths column, no key_prefix.
        var request = IngestEventsRequest.Grouped(sub.Calls(4, T0.AddMinutes(-10)));
        foreach (var group in request.Groups)
        {
            group.RequestIds.Clear();
            group.Paths.Clear();
        }
        var single = sub.Call(T0.AddMinutes(-1));
        request.Events.Add(single);

        var response = await usage.Client.IngestAsync(request);
        var calls = await ListAsync(usage, consumer.Token, new ListCallsRequest());

        Assert.Equal((5, 0), (response.Accepted, response.Quarantined));
        Assert.Equal(5, calls.Count);
        Assert.All(calls, c => Assert.Equal(("", "", "", sub.KeyId), (c.Path, c.RequestId, c.KeyPrefix, c.KeyId)));
        Assert.Equal(single.EventId, calls[0].EventId);
    }

    [Fact]
    public async Task Ingest_BadCallLogFields_QuarantinedWithTheFieldOrRejected()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        var admin = await identity.AdminAsync();
        await using var usage = new UsageHost(identity, time: new FakeTimeProvider(T0));
        var sub = Sub.New(consumer.Id, "acc_provider", T0.AddDays(-3));
        var query = Logged(sub, T0.AddMinutes(-3), "/weather?city=paris");
        var relative = Logged(sub, T0.AddMinutes(-2), "weather");
        var spaced = Logged(sub, T0.AddMinutes(-1), "/weather");
        spaced.RequestId = "req with spaces";
        var longPath = Logged(sub, T0.AddMinutes(-1), "/" + new string('a', 512));
        var prefixWithoutKey = Logged(sub, T0.AddMinutes(-1), "/weather");
        prefixWithoutKey.KeyId = "";
        prefixWithoutKey.Billable = false;

        var response = await usage.Client.IngestAsync(IngestEventsRequest.Grouped([query, relative, spaced, longPath, prefixWithoutKey]));
        var ragged = IngestEventsRequest.Grouped([Logged(sub, T0, "/a"), Logged(sub, T0, "/b")]);
        ragged.Groups[0].Paths.RemoveAt(1);
        var rejected = await Assert.ThrowsAsync<RpcException>(() => usage.Client.IngestAsync(ragged));
        var shared = IngestEventsRequest.Grouped([Logged(sub, T0, "/a")]);
        shared.Groups[0].Context.Path = "/a";
        var pathInContext = await Assert.ThrowsAsync<RpcException>(() => usage.Client.IngestAsync(shared));

        Assert.Equal((0, 5), (response.Accepted, response.Quarantined));
        var quarantined = await usage.Client.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest(), Api.Call(admin.Token));
        var details = quarantined.Events.ToDictionary(q => q.Event.EventId, q => q.Detail);
        Assert.StartsWith("path:", details[query.EventId]);
        Assert.StartsWith("path:", details[relative.EventId]);
        Assert.StartsWith("request_id:", details[spaced.EventId]);
        Assert.StartsWith("path:", details[longPath.EventId]);
        Assert.StartsWith("key_prefix:", details[prefixWithoutKey.EventId]);
        Assert.Equal(StatusCode.InvalidArgument, rejected.StatusCode);
        Assert.Contains("groups[0]", rejected.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, pathInContext.StatusCode);
        Assert.Contains("groups[0].context", pathInContext.Status.Detail);
        Assert.Empty(await ListAsync(usage, consumer.Token, new ListCallsRequest()));
    }

    [Fact]
    public async Task ListCalls_BadFilters_ProblemWithFieldErrors()
    {
        var consumer = await identity.SignUpAsync(Role.Consumer);
        await using var usage = new UsageHost(identity);
        using var rest = usage.CreateRestClient();

        var status = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls?status=6xx", consumer.Token);
        var word = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls?status=server-error", consumer.Token);
        var reversed = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", consumer.Token);
        var several = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls?page_size=500&page_token=nonsense&key_id=key%20one", consumer.Token);
        var ok = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls?status=4xx&page_size=10", consumer.Token);
        var anonymous = await rest.SendAsync(HttpMethod.Get, "v1/usage/calls", null);

        await QueryTests.AssertFieldErrorAsync(status, "status");
        await QueryTests.AssertFieldErrorAsync(word, "status");
        await QueryTests.AssertFieldErrorAsync(reversed, "endTime");
        await QueryTests.AssertFieldErrorAsync(several, "pageSize", "pageToken", "keyId");
        Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
        Assert.Empty((await ok.JsonAsync())["calls"]?.AsArray() ?? []);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    /// <summary>A call as an edge with the call log sends it: request id, path and the key's prefix.</summary>
    private static UsageEvent Logged(Sub sub, DateTimeOffset at, string path, int status = 200)
    {
        var call = sub.Call(at, status: status);
        call.RequestId = "req-" + Guid.NewGuid().ToString("N");
        call.Path = path;
        call.KeyPrefix = Prefix(sub);
        return call;
    }

    private static string Prefix(Sub sub) => "veil_test_" + sub.KeyId[^6..];

    /// <summary>Every page of the caller's calls, followed through next_page_token.</summary>
    private static async Task<List<Call>> ListAsync(UsageHost usage, string token, ListCallsRequest request)
    {
        var calls = new List<Call>();
        for (var pages = 0; pages < 100; pages++)
        {
            var page = await usage.Client.ListCallsAsync(request, Api.Call(token)).ResponseAsync;
            calls.AddRange(page.Calls);
            if (page.NextPageToken.Length == 0)
            {
                return calls;
            }
            Assert.Equal(request.PageSize == 0 ? 50 : request.PageSize, page.Calls.Count);
            request = request.Clone();
            request.PageToken = page.NextPageToken;
        }
        throw new InvalidOperationException("More than 100 pages.");
    }

    /// <summary>What the call log must show of each sent call, newest first.</summary>
    private static List<string> Expected(IEnumerable<UsageEvent> sent) =>
        sent.OrderByDescending(e => e.OccurredAt.ToDateTimeOffset()).ThenByDescending(e => e.EventId)
            .Select(e => $"{e.EventId} {e.OccurredAt} {e.Method} {e.Path} {e.StatusCode} {e.RequestId} {e.KeyId}").ToList();

    private static List<string> Describe(IEnumerable<Call> listed) =>
        listed.Select(c => $"{c.EventId} {c.RequestTime} {c.Method} {c.Path} {c.StatusCode} {c.RequestId} {c.KeyId}").ToList();
}
