using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Edge.Calls;
using Veil.Edge.Metering;
using Veil.Testing;
using Veil.Usage.Grpc;

namespace Veil.Edge.Tests;

/// <summary>
/// Metering end to end: real edges (in-process and as child processes) spooling to real SQLite
/// files and shipping to a real usage service, counted by usage exactly once.
/// </summary>
public sealed class UsageTests(UsageFixture fixture) : IClassFixture<UsageFixture>
{
    private static readonly TimeSpan ShipBound = TimeSpan.FromSeconds(30);

    /// <summary>The documented crash-loss bound in events (docs/usage-and-billing.md): two group-commit groups.</summary>
    private const int CrashLossBound = 2 * 1_000;

    /// <summary>The documented over-admission window of a hard cap while the pipeline is healthy.</summary>
    private static readonly TimeSpan QuotaWindow = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Ingest_UsageDownThenUp_CountsExactlyTheBillableResponses()
    {
        // Arrange: an edge whose usage service is not running yet.
        await using var usage = fixture.ConfigureUsage(new ServiceHost<UsageGrpcService>());
        await using var edge = fixture.Wire(new ServiceHost<EdgeOptions>(), usage.GrpcUrl).Start();
        var api = await fixture.PublishApiAsync(pricePerCallMinor: 3);
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
        var spool = edge.Services.GetRequiredService<UsageSpool>();
        var before = spool.Depth;

        // Act: 300 calls while usage is down (every tenth without a key: 401, not billable) …
        var load = new UsageLoad();
        await load.SendAsync(edge.HttpUrl, api.Slug, i => i % 10 == 0 ? null : consumer.Key, 300);
        await Eventually.HoldsAsync(() => Task.FromResult(spool.Depth - before >= 300), TimeSpan.FromSeconds(10),
            "every call's event is spooled while usage is down");
        // … then usage starts.
        usage.Start();

        // Assert: the counted billable calls are exactly the 200s the client saw (the warm-up call included).
        Assert.Equal(270, load.Ok);
        var expected = load.Ok + 1;
        await Eventually.HoldsAsync(async () => spool.Depth == 0 && (await CountsAsync(usage, consumer.SubscriptionId!)).Billable >= expected,
            ShipBound, "the spool drains into usage");
        var (billable, total) = await CountsAsync(usage, consumer.SubscriptionId!);
        Assert.Equal(expected, billable);
        Assert.Equal(expected, total);
    }

    [Fact]
    public async Task Ship_UsageAcknowledgesFewerEventsThanSent_BatchStaysSpooled()
    {
        // A usage service from before grouped events answers OK without reading the groups.
        var ct = TestContext.Current.CancellationToken;
        await using var old = await PreGroupingUsage.StartAsync(ct);
        await using var edge = fixture.Wire(new ServiceHost<EdgeOptions>(), old.GrpcUrl).Start();
        var api = await fixture.PublishApiAsync();
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
        var spool = edge.Services.GetRequiredService<UsageSpool>();

        var load = new UsageLoad();
        await load.SendAsync(edge.HttpUrl, api.Slug, _ => consumer.Key, 20);
        await Eventually.HoldsAsync(() => Task.FromResult(old.Calls.Count >= 2), ShipBound, "the edge ships, and ships again");

        // Nothing was deleted on a partial acknowledgement: every call is still spooled.
        Assert.Equal(20, load.Ok);
        Assert.True(spool.Depth >= load.Ok + 1, $"the batch stays spooled (depth {spool.Depth})");
    }

    [Fact]
    public async Task Spool_EdgeKilledThenRestarted_CountsNothingTwiceAndLosesAtMostTheWindow_GracefulStopLosesNothing()
    {
        var api = await fixture.PublishApiAsync();
        var first = await fixture.ConsumerAsync(api.PlanId);
        var second = await fixture.ConsumerAsync(api.PlanId);
        var data = Directory.CreateTempSubdirectory("veil-edge-spool-").FullName;
        var port = FreePort.Next();
        var settings = fixture.EdgeSettings(fixture.Usage.GrpcUrl);
        try
        {
            // Load through a real edge process, then kill -9 it mid-load.
            var load = new UsageLoad();
            using (var edge = UsageEdgeProcess.Start(port, data, settings))
            {
                await UsageFixture.WaitServedAsync(edge.Url, api.Slug, first.Key, TimeSpan.FromSeconds(60));
                using var stop = new CancellationTokenSource();
                var running = load.SendUntilAsync(edge.Url, api.Slug, first.Key, concurrency: 4, stop.Token);
                await Eventually.HoldsAsync(() => Task.FromResult(load.Ok >= 400), TimeSpan.FromSeconds(30), "load runs");
                edge.KillHard();
                await running.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);
                await stop.CancelAsync();
            }
            var observed = load.Ok + 1; // + the warm-up call

            // Restart on the same spool: what was committed before the kill ships now.
            using (var edge = UsageEdgeProcess.Start(port, data, settings))
            {
                await UsageFixture.WaitServedAsync(edge.Url, api.Slug, second.Key, TimeSpan.FromSeconds(60));
                await Eventually.HoldsAsync(() => Task.FromResult(UsageFixture.SpoolDepth(data) == 0), ShipBound, "the restarted edge ships the spool");
                var (counted, _) = await fixture.CycleCountsAsync(first.SubscriptionId!);
                TestContext.Current.SendDiagnosticMessage($"kill -9: client saw {observed} billable answers, usage counted {counted}, lost {observed - counted}");
                // Counted at most once: never more than answered (up to 4 answers were in flight, unseen, at the kill).
                Assert.InRange(counted, observed - CrashLossBound, observed + 4);

                // Graceful stop: every answered call is counted.
                var graceful = new UsageLoad();
                await graceful.SendAsync(edge.Url, api.Slug, _ => second.Key, 200, concurrency: 4);
                await edge.StopGracefullyAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(200, graceful.Ok);
                var expected = graceful.Ok + 1;
                Assert.Equal(0, UsageFixture.SpoolDepth(data));
                Assert.Equal(expected, (await fixture.CycleCountsAsync(second.SubscriptionId!)).Billable);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // The temp folder is cleaned by the OS anyway.
            }
        }
    }

    [Fact]
    public async Task Quota_HardCapReached_Answers429QuotaExhaustedWithinTheWindow()
    {
        const int quota = 25;
        var api = await fixture.PublishApiAsync(monthlyQuota: quota, overageAllowed: false, pricePerCallMinor: 5);
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
        using var http = fixture.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;

        // Call until refused (bounded); note when each admitted call was answered.
        var admitted = new List<TimeSpan> { TimeSpan.Zero }; // the warm-up call
        var clock = Stopwatch.StartNew();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 2_000 && refused is null && clock.Elapsed < TimeSpan.FromSeconds(30); i++)
        {
            var response = await http.SendAsync(UsageFixture.Get(api.Slug, consumer.Key), ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                admitted.Add(clock.Elapsed);
                response.Dispose();
            }
            else
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        using (refused)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            var problem = JsonNode.Parse(await refused.Content.ReadAsStringAsync(ct))!;
            Assert.Equal(Problems.QuotaExhaustedType, problem["type"]!.GetValue<string>());
            Assert.Equal("Quota exhausted", problem["title"]!.GetValue<string>());
            Assert.Contains("resets at", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After until the cycle resets");
            // Written by Problems.WriteAsync like every other problem of the edge's: not cached, not sniffed.
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.True(refused.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
            Assert.Equal("nosniff", Assert.Single(refused.Headers.GetValues("X-Content-Type-Options")));
        }
        Assert.True(admitted.Count >= quota, $"only {admitted.Count} of the quota's {quota} calls were admitted");
        // Over-admission: calls admitted after the quota was reached, all within the documented window.
        var reached = admitted[quota - 1];
        var late = admitted.Skip(quota).Where(t => t - reached > QuotaWindow).ToList();
        TestContext.Current.SendDiagnosticMessage($"hard cap {quota}: admitted {admitted.Count}, over-admitted {admitted.Count - quota}");
        Assert.Empty(late);

        // Another refused call, and usage counts the refusals as calls but never as billable.
        using (var again = await http.SendAsync(UsageFixture.Get(api.Slug, consumer.Key), ct))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
        }
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Total == admitted.Count + 2,
            ShipBound, "usage counts every call");
        Assert.Equal(admitted.Count, (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Billable);
    }

    [Fact]
    public async Task Quota_LowerAndMixedCaseMethods_CountedExactlyAndHardCapHolds()
    {
        // Issue 12: `curl -X get` answered 200 and was never counted, so a hard cap never held.
        const int quota = 15;
        var api = await fixture.PublishApiAsync(monthlyQuota: quota, overageAllowed: false, pricePerCallMinor: 4);
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
        string[] methods = ["get", "Get", "pOsT", "delete", "Patch", "put", "options", "head"];

        // Call with lower- and mixed-case methods until refused (bounded); note when each admitted call was answered.
        var admitted = new List<TimeSpan> { TimeSpan.Zero }; // the warm-up call
        var clock = Stopwatch.StartNew();
        RawHttp.Response? refused = null;
        for (var i = 0; i < 1_000 && refused is null && clock.Elapsed < TimeSpan.FromSeconds(30); i++)
        {
            var method = methods[i % methods.Length];
            var response = await RawHttp.SendAsync(fixture.Edge.HttpUrl, method, $"{api.Slug}/echo", [("X-Api-Key", consumer.Key)]);
            if (response.Status == 200)
            {
                // The upstream sees the canonical method (a HEAD's answer has no body to show it).
                if (method != "head")
                {
                    Assert.Equal(method.ToUpperInvariant(), JsonNode.Parse(ChunkedBodyText(response))!["method"]!.GetValue<string>());
                }
                admitted.Add(clock.Elapsed);
            }
            else
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        Assert.True(refused.Status == 429, $"refused with {refused.Status}: {refused.Body}");
        Assert.Contains(Problems.QuotaExhaustedType, refused.Body, StringComparison.Ordinal);
        Assert.True(admitted.Count >= quota, $"only {admitted.Count} of the quota's {quota} calls were admitted");
        var reached = admitted[quota - 1];
        Assert.DoesNotContain(admitted.Skip(quota), t => t - reached > QuotaWindow);
        // Every admitted call is billed exactly once, and the refusal is a call but not billable.
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Total == admitted.Count + 1,
            ShipBound, "usage counts every call");
        Assert.Equal(admitted.Count, (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Billable);
    }

    [Fact]
    public async Task Call_ChunkedBodyOverTheLimit_Returns413ProblemNotForwardedWholeAndNotBillable()
    {
        const int limit = 64 * 1024;
        await using var edge = fixture.Wire(new ServiceHost<EdgeOptions>(), fixture.Usage.GrpcUrl)
            .With("Edge:MaxRequestBodySize", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)).Start();
        var api = await fixture.PublishApiAsync(pricePerCallMinor: 9);
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
        using var http = edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        var small = "small-" + Guid.NewGuid().ToString("N");
        var large = "large-" + Guid.NewGuid().ToString("N");

        // Under the limit, chunked: forwarded whole.
        using (var response = await http.SendAsync(Upload(api.Slug, small, consumer.Key, limit / 2), ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // 16 times the limit, chunked (no Content-Length: the edge only learns the size while streaming).
        using (var response = await http.SendAsync(Upload(api.Slug, large, consumer.Key, 16 * limit), ct))
        {
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
            Assert.Contains("larger than the edge accepts", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal("complete:" + (limit / 2), fixture.Upstream.Uploads[small]);
        Assert.False(fixture.Upstream.Uploads.TryGetValue(large, out var outcome) && outcome.StartsWith("complete:", StringComparison.Ordinal),
            $"the upstream received the whole oversized body ({outcome})");
        // Warm-up and small upload billed; the 413 is a call, not billable.
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Total == 3, ShipBound,
            "usage counts the three calls");
        Assert.Equal(2, (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Billable);

        static HttpRequestMessage Upload(string slug, string id, string key, int bytes)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"{slug}/upload/{id}")
            {
                Content = new StreamContent(new UnknownLengthStream(bytes)),
            };
            request.Headers.TransferEncodingChunked = true;
            request.Headers.Add("X-Api-Key", key);
            return request;
        }
    }

    /// <summary>The body of a response as RawHttp read it (chunked or not): the JSON between the first '{' and the last '}'.</summary>
    private static string ChunkedBodyText(RawHttp.Response response) =>
        response.Body[response.Body.IndexOf('{', StringComparison.Ordinal)..(response.Body.LastIndexOf('}') + 1)];

    /// <summary>A readable stream of <c>length</c> zero bytes that does not tell its length, so HttpClient sends it chunked.</summary>
    private sealed class UnknownLengthStream(int length) : Stream
    {
        private int _left = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(count, _left);
            Array.Clear(buffer, offset, n);
            _left -= n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Quota_OveragePlanBeyondQuota_PassesAndIsBilled()
    {
        const int quota = 5;
        var api = await fixture.PublishApiAsync(monthlyQuota: quota, overageAllowed: true, pricePerCallMinor: 1);
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));

        var load = new UsageLoad();
        await load.SendAsync(fixture.Edge.HttpUrl, api.Slug, _ => consumer.Key, 4 * quota, concurrency: 1);
        await Eventually.HoldsAsync(async () => (await fixture.CycleCountsAsync(consumer.SubscriptionId!)).Billable == (4 * quota) + 1,
            ShipBound, "usage counts the overage");
        // Usage knows the cycle is beyond its quota, and the edge still lets the plan through.
        await load.SendAsync(fixture.Edge.HttpUrl, api.Slug, _ => consumer.Key, quota, concurrency: 1);
        Assert.Equal(5 * quota, load.Ok);
        Assert.Equal(0, load.Other);
    }

    [Fact]
    public async Task Usage_UnauthenticatedAndForbiddenCalls_AreRecordedButNotBillable()
    {
        var api = await fixture.PublishApiAsync(pricePerCallMinor: 7);
        var subscribed = await fixture.ConsumerAsync(api.PlanId);
        var unsubscribed = await fixture.ConsumerAsync(planId: null);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, subscribed.Key, TimeSpan.FromSeconds(10));

        var load = new UsageLoad();
        await load.SendAsync(fixture.Edge.HttpUrl, api.Slug, i => (i % 3) switch
        {
            0 => null,                                            // 401: no key
            1 => unsubscribed.Key,                                // 403: not entitled
            _ => subscribed.Key,                                  // 200
        }, 30, concurrency: 2);
        Assert.Equal(10, load.Ok);
        Assert.Equal(20, load.Other);

        // The provider sees every call of its API, and only the answered ones as billable (+ the warm-up call).
        await Eventually.HoldsAsync(async () => (await fixture.ProviderTotalsAsync(api)).TotalCalls == 31, ShipBound,
            "usage has rolled up all 31 calls");
        var totals = await fixture.ProviderTotalsAsync(api);
        Assert.Equal(11, totals.BillableCalls);
        Assert.Equal(11, (await fixture.CycleCountsAsync(subscribed.SubscriptionId!)).Billable);
    }

    [Fact]
    public async Task Bytes_ResponsesWithAndWithoutContentLength_CountedAsTheClientReceivedThem()
    {
        var api = await fixture.PublishApiAsync();
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        using var http = fixture.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        long received = 0, calls = 0;

        async Task<bool> CallAsync(string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, api.Slug + path);
            request.Headers.Add("X-Api-Key", consumer.Key);
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false; // the API is not routed yet: no event for it
            }
            received += (await response.Content.ReadAsByteArrayAsync(ct)).Length;
            calls++;
            return true;
        }

        await Eventually.HoldsAsync(() => CallAsync("/sized"), TimeSpan.FromSeconds(10), "the API is routed");
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await CallAsync("/sized"));
            Assert.True(await CallAsync("/chunked"));
        }

        Assert.Equal(4 * EchoUpstream.SizedBody.Length + 3 * EchoUpstream.ChunkedBody.Length, received);
        await Eventually.HoldsAsync(async () => (await fixture.ProviderTotalsAsync(api)).TotalCalls == calls, ShipBound,
            "usage has rolled up every call");
        Assert.Equal(received, (await fixture.ProviderTotalsAsync(api)).BytesOut);
    }

    [Fact]
    public async Task Spool_LeftByAnOlderEdgeWithOneRowPerEvent_IsUpgradedAndShippedWhole()
    {
        await using var usage = fixture.ConfigureUsage(new ServiceHost<UsageGrpcService>());
        var api = await fixture.PublishApiAsync();
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        var spoolPath = Path.Combine(Directory.CreateTempSubdirectory("veil-edge-upgrade-").FullName, "edge-spool.db");

        // An edge spools 50 calls while usage is down, then stops (graceful: all committed, nothing shipped).
        var load = new UsageLoad();
        await using (var edge = fixture.Wire(new ServiceHost<EdgeOptions>(), usage.GrpcUrl)
            .With("Edge:Usage:SpoolPath", spoolPath).With("Edge:Usage:StopShipTimeout", "00:00:00").Start())
        {
            await UsageFixture.WaitServedAsync(edge.HttpUrl, api.Slug, consumer.Key, TimeSpan.FromSeconds(10));
            await load.SendAsync(edge.HttpUrl, api.Slug, _ => consumer.Key, 50);
            var edgeSpool = edge.Services.GetRequiredService<UsageSpool>();
            await Eventually.HoldsAsync(() => Task.FromResult(edgeSpool.Depth >= 51), TimeSpan.FromSeconds(10), "every call is spooled");
        }
        Assert.Equal(50, load.Ok);
        Assert.Equal(65536L, PageSize(spoolPath)); // a new spool's pages hold whole slices of a group
        // The file an edge from before grouped rows would have left: one row per event, user_version 1.
        var spooled = RewriteAsOneRowPerEvent(spoolPath);
        Assert.True(spooled >= load.Ok + 1, $"every call was spooled ({spooled} events)");

        usage.Start();
        await using (var edge = fixture.Wire(new ServiceHost<EdgeOptions>(), usage.GrpcUrl).With("Edge:Usage:SpoolPath", spoolPath).Start())
        {
            var spool = edge.Services.GetRequiredService<UsageSpool>();
            await Eventually.HoldsAsync(async () => spool.Depth == 0 && (await CountsAsync(usage, consumer.SubscriptionId!)).Total >= spooled,
                ShipBound, "the upgraded spool drains into usage");
            var (billable, total) = await CountsAsync(usage, consumer.SubscriptionId!);
            Assert.Equal(load.Ok + 1, billable); // + the warm-up call
            Assert.Equal(spooled, total);
        }
    }

    private static long PageSize(string spoolPath)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={spoolPath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA page_size;";
        return (long)command.ExecuteScalar()!;
    }

    private static long RewriteAsOneRowPerEvent(string spoolPath)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={spoolPath};Pooling=False");
        connection.Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT body FROM spool_group ORDER BY seq;";
        var events = new List<Veil.Usage.V1.UsageEvent>();
        using (var rows = command.ExecuteReader())
        {
            while (rows.Read())
            {
                var spooled = Veil.Usage.V1.IngestEventsRequest.Parser.ParseFrom((byte[])rows.GetValue(0));
                events.AddRange(spooled.Events);
                events.AddRange(spooled.Groups.SelectMany(group => group.ToEvents()));
            }
        }
        command.CommandText = """
            DROP TABLE spool_group;
            CREATE TABLE spool (seq INTEGER PRIMARY KEY, occurred_ms INTEGER NOT NULL, event BLOB NOT NULL) STRICT;
            PRAGMA user_version=1;
            """;
        command.ExecuteNonQuery();
        command.CommandText = "INSERT INTO spool (occurred_ms, event) VALUES ($occurred, $event);";
        var occurred = command.Parameters.Add("$occurred", Microsoft.Data.Sqlite.SqliteType.Integer);
        var body = command.Parameters.Add("$event", Microsoft.Data.Sqlite.SqliteType.Blob);
        foreach (var usageEvent in events)
        {
            occurred.Value = usageEvent.OccurredAt.ToDateTimeOffset().ToUnixTimeMilliseconds();
            body.Value = Google.Protobuf.MessageExtensions.ToByteArray(usageEvent);
            command.ExecuteNonQuery();
        }
        transaction.Commit();
        return events.Count;
    }

    private static async Task<(long Billable, long Total)> CountsAsync(ServiceHost<UsageGrpcService> usage, string subscriptionId)
    {
        using var channel = usage.CreateGrpcChannel();
        return await UsageFixture.CycleCountsAsync(channel, subscriptionId);
    }
}
