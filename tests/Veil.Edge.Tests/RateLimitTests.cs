using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The edge's rate limits end to end (docs/rate-limiting.md, "The edge side"). The bounds asserted
/// are the documented ones: admitted ≤ b + r·T + min(r·ttl, N·L) over a window T, with L = 10 for
/// the key limit (100/s burst 10) and 20 for the consumer limit (200/s burst 20), ttl = 1 s.
/// One class: the Redis tests kill and pause the shared redis-server, so they run in sequence.
/// </summary>
public sealed class RateLimitTests(RateLimitFixture fixture) : IClassFixture<RateLimitFixture>
{
    private const string Degraded = "X-Veil-RateLimit-Degraded";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Tally
    {
        public int Ok, Limited, Unauthorized, ServerError, DegradedSeen;
        public long MaxLatencyTicks;
        public ConcurrentBag<string> Details { get; } = [];
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string slug, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/ping");
        request.Headers.Add("X-Api-Key", key);
        return await http.SendAsync(request, Ct);
    }

    private static async Task CountAsync(Tally tally, HttpClient http, string slug, string key, bool keepDetail = false)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await GetAsync(http, slug, key);
        var elapsed = Stopwatch.GetTimestamp() - started;
        long seen;
        while (elapsed > (seen = Interlocked.Read(ref tally.MaxLatencyTicks)) && Interlocked.CompareExchange(ref tally.MaxLatencyTicks, elapsed, seen) != seen)
        {
        }
        if (response.Headers.Contains(Degraded))
        {
            Interlocked.Increment(ref tally.DegradedSeen);
        }
        switch ((int)response.StatusCode)
        {
            case 200: Interlocked.Increment(ref tally.Ok); break;
            case 429:
                Interlocked.Increment(ref tally.Limited);
                Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 carries Retry-After ≥ 1 s");
                if (keepDetail)
                {
                    tally.Details.Add(await response.Content.ReadAsStringAsync(Ct));
                }
                break;
            case 401: Interlocked.Increment(ref tally.Unauthorized); break;
            case >= 500: Interlocked.Increment(ref tally.ServerError); break;
        }
    }

    /// <summary>Offers load with <paramref name="workers"/> concurrent loops for <paramref name="duration"/>; returns the elapsed time.</summary>
    private static async Task<TimeSpan> FloodAsync(Tally tally, TimeSpan duration, int workers, Func<int, (HttpClient, string Slug, string Key)> pick)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; clock.Elapsed < duration && i < 100_000; i++)
            {
                var (http, slug, key) = pick(w + i);
                await CountAsync(tally, http, slug, key);
            }
        }, Ct))).WaitAsync(duration + TimeSpan.FromSeconds(30), Ct);
        return clock.Elapsed;
    }

    [Fact]
    public async Task Burst_200Concurrent_AdmitsAtMostBurstPlusLeaseBound()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var http = RateLimitFixture.Client(fixture.EdgeA);
        var tally = new Tally();

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => CountAsync(tally, http, api.Slug, keys[0]))).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var t = clock.Elapsed.TotalSeconds;

        // b + r·T + min(r·ttl, N·L) with b = 10, r = 100, N = 1 edge on this key, L = 10.
        Assert.InRange(tally.Ok, 1, 10 + (int)Math.Ceiling(100 * t) + 10);
        Assert.Equal(200, tally.Ok + tally.Limited);
        Assert.Equal(0, tally.ServerError);
    }

    [Fact]
    public async Task IdleClient_AfterItsLeaseExpired_IsAdmittedAgain()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var http = RateLimitFixture.Client(fixture.EdgeA);

        // Each grant takes the whole key bucket (L = b = 10), so the store answers "0 left"; the
        // unspent tokens then expire while the client is idle. The store has refilled by then:
        // the next call must be admitted, not refused on the stale "0 left".
        for (var i = 0; i < 3; i++)
        {
            using var response = await GetAsync(http, api.Slug, keys[0]);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Task.Delay(TimeSpan.FromSeconds(1.3), Ct); // idle past the 1 s lease TTL (the scenario, not a wait for something)
        }
        using var last = await GetAsync(http, api.Slug, keys[0]);
        Assert.Equal(HttpStatusCode.OK, last.StatusCode);
    }

    [Fact]
    public async Task Headers_AllowedAndLimited_CarryRateLimitFields()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var http = RateLimitFixture.Client(fixture.EdgeA);

        using var ok = await GetAsync(http, api.Slug, keys[0]);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Matches("^\"(key|consumer|plan|ip)\";q=\\d+;w=\\d+$", string.Join(",", ok.Headers.GetValues("RateLimit-Policy")));
        Assert.Matches("^\"(key|consumer|plan|ip)\";r=\\d+;t=\\d+$", string.Join(",", ok.Headers.GetValues("RateLimit")));

        HttpResponseMessage? limited = null;
        for (var i = 0; i < 200 && limited is null; i++)
        {
            var response = await GetAsync(http, api.Slug, keys[0]);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited = response; else response.Dispose();
        }
        Assert.NotNull(limited);
        using (limited)
        {
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
            Assert.Contains("key limit", await limited.Content.ReadAsStringAsync(Ct));
            Assert.Equal("\"key\";q=100;w=1", string.Join(",", limited.Headers.GetValues("RateLimit-Policy")));
            Assert.StartsWith("\"key\";r=0;t=", string.Join(",", limited.Headers.GetValues("RateLimit")));
        }
    }

    [Fact]
    public async Task TwoEdgesOneRedis_KeyFloodedFor10s_AdmittedWithinBound()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var a = RateLimitFixture.Client(fixture.EdgeA);
        using var b = RateLimitFixture.Client(fixture.EdgeB);
        var tally = new Tally();

        var t = (await FloodAsync(tally, TimeSpan.FromSeconds(10), 12, i => (i % 2 == 0 ? a : b, api.Slug, keys[0]))).TotalSeconds;

        // b + r·T + min(r·ttl, N·L) = 10 + 100·T + min(100, 2·10).
        Assert.True(tally.Limited > tally.Ok / 2, $"offered well above the limit: {tally.Ok} ok, {tally.Limited} limited");
        Assert.InRange(tally.Ok, (int)(0.8 * 100 * t), 10 + (int)Math.Ceiling(100 * t) + 20);
        Assert.Equal(0, tally.ServerError);
        // A renewal that misses its deadline on this loaded machine degrades the edge until the next probe (200 ms).
        Assert.True(tally.DegradedSeen < (tally.Ok + tally.Limited) / 20, $"{tally.DegradedSeen} degraded responses");
    }

    [Fact]
    public async Task Consumer_ThreeKeysFlooded_AdmittedAtConsumerLimitNotThreeKeyLimits()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId, keys: 3);
        using var http = RateLimitFixture.Client(fixture.EdgeA);
        var tally = new Tally();

        var t = (await FloodAsync(tally, TimeSpan.FromSeconds(3), 12, i => (http, api.Slug, keys[i % 3]))).TotalSeconds;

        // Consumer 200/s burst 20, L = 20, one edge: 20 + 200·T + 20; three keys alone would allow 30 + 300·T.
        Assert.InRange(tally.Ok, (int)(0.6 * 200 * t), 20 + (int)Math.Ceiling(200 * t) + 20);
        Assert.True(tally.Limited > 0);
        Assert.Equal(0, tally.ServerError);
        var sample = new Tally();
        await CountAsync(sample, http, api.Slug, keys[0], keepDetail: true);
        for (var i = 0; i < 50 && sample.Details.IsEmpty; i++)
        {
            // 90 at once: well past burst + lease even when a loaded machine sends slowly.
            await Task.WhenAll(Enumerable.Range(0, 30).SelectMany(_ => keys).Select(k => CountAsync(sample, http, api.Slug, k, keepDetail: true)));
        }
        Assert.True(sample.Details.Any(d => d.Contains("consumer limit", StringComparison.Ordinal) || d.Contains("key limit", StringComparison.Ordinal)), string.Join("\n", sample.Details));
    }

    [Fact]
    public async Task Ip_BadKeyFlood_401sTurnInto429s()
    {
        var api = await fixture.PublishApiAsync();
        using var http = RateLimitFixture.Client(fixture.MemoryEdge, "127.0.0.2");
        var tally = new Tally();
        var clock = Stopwatch.StartNew();

        for (var i = 0; i < 150; i++)
        {
            await CountAsync(tally, http, api.Slug, "veil_not-a-real-key");
        }

        // IP 1000/min burst 50 (L = 10): 50 + 16.7·T + 10 at most get as far as the key check.
        Assert.InRange(tally.Unauthorized, 40, 50 + (int)Math.Ceiling(16.7 * clock.Elapsed.TotalSeconds) + 10);
        Assert.Equal(150, tally.Unauthorized + tally.Limited);
        using var last = await GetAsync(http, api.Slug, "veil_not-a-real-key");
        Assert.Equal(HttpStatusCode.TooManyRequests, last.StatusCode);
        Assert.Contains("ip limit", await last.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task MemoryMode_NoRedis_EnforcesTheSameKeyLimit()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var http = RateLimitFixture.Client(fixture.MemoryEdge, "127.0.0.3");
        var tally = new Tally();
        using (var warm = await GetAsync(http, api.Slug, keys[0]))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => CountAsync(tally, http, api.Slug, keys[0]))).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.InRange(tally.Ok, 1, 10 + (int)Math.Ceiling(100 * clock.Elapsed.TotalSeconds) + 10);
        Assert.True(tally.Limited > 0);
    }

    [Fact]
    public async Task Redis_KilledThenRestarted_DegradesToLimitOverNThenRecovers()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId);
        using var a = RateLimitFixture.Client(fixture.EdgeA);
        using var b = RateLimitFixture.Client(fixture.EdgeB);
        using (var warm = await GetAsync(a, api.Slug, keys[0]))
        {
            Assert.True(warm.StatusCode == HttpStatusCode.OK, await warm.Content.ReadAsStringAsync(Ct) + string.Join(",", warm.Headers.Select(h => h.Key + "=" + string.Join(";", h.Value))));
        }

        fixture.Redis.Kill();
        try
        {
            // Degraded within a bounded time, on both edges.
            await Eventually.HoldsAsync(async () =>
            {
                using var ra = await GetAsync(a, api.Slug, keys[0]);
                using var rb = await GetAsync(b, api.Slug, keys[0]);
                Assert.True((int)ra.StatusCode < 500 && (int)rb.StatusCode < 500);
                return ra.Headers.Contains(Degraded) && rb.Headers.Contains(Degraded);
            }, TimeSpan.FromSeconds(10), "both edges mark responses degraded");

            var tallyA = new Tally();
            var tallyB = new Tally();
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(
                FloodAsync(tallyA, TimeSpan.FromSeconds(3), 6, _ => (a, api.Slug, keys[0])),
                FloodAsync(tallyB, TimeSpan.FromSeconds(3), 6, _ => (b, api.Slug, keys[0])));
            var t = clock.Elapsed.TotalSeconds;

            // limit / N per edge: 50/s, burst 5.
            foreach (var tally in new[] { tallyA, tallyB })
            {
                Assert.Equal(0, tally.ServerError);
                Assert.True(tally.DegradedSeen > 0);
                Assert.InRange(tally.Ok, (int)(0.6 * 50 * t), 5 + (int)Math.Ceiling(50 * t));
            }
        }
        finally
        {
            await fixture.Redis.RestartAsync(Ct);
        }

        await Eventually.HoldsAsync(async () =>
        {
            using var ra = await GetAsync(a, api.Slug, keys[0]);
            using var rb = await GetAsync(b, api.Slug, keys[0]);
            return !ra.Headers.Contains(Degraded) && !rb.Headers.Contains(Degraded) && (int)ra.StatusCode < 500;
        }, TimeSpan.FromSeconds(30), "both edges lease from Redis again");
    }

    [Fact]
    public async Task Redis_Paused_LatencyStaysBounded()
    {
        var api = await fixture.PublishApiAsync();
        var (_, keys) = await fixture.ConsumerAsync(api.PlanId, keys: 2);
        using var a = RateLimitFixture.Client(fixture.EdgeA);
        using (var warm = await GetAsync(a, api.Slug, keys[0]))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        fixture.Redis.Pause();
        var tally = new Tally();
        try
        {
            // A warm key and a cold one (its first lease cannot come).
            await FloodAsync(tally, TimeSpan.FromSeconds(2), 4, i => (a, api.Slug, keys[i % 2]));
        }
        finally
        {
            fixture.Redis.Resume();
        }

        Assert.Equal(0, tally.ServerError);
        Assert.True(tally.Ok > 0);
        // AcquireTimeout (250 ms) and ColdWait (100 ms) bound any wait; 1.5 s leaves room for a loaded machine.
        Assert.True(TimeSpan.FromTicks(tally.MaxLatencyTicks * TimeSpan.TicksPerSecond / Stopwatch.Frequency) < TimeSpan.FromSeconds(1.5),
            $"max latency {tally.MaxLatencyTicks * 1000 / Stopwatch.Frequency} ms");
        await Eventually.HoldsAsync(async () =>
        {
            using var r = await GetAsync(a, api.Slug, keys[1]);
            return !r.Headers.Contains(Degraded);
        }, TimeSpan.FromSeconds(30), "the edge leases again after SIGCONT");
    }
}
