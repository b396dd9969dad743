using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Veil.RateLimit.V1;
using Veil.Testing;

namespace Veil.RateLimit.Tests;

/// <summary>Redis mode against a real redis-server started per test on a free port.</summary>
public sealed class RedisModeTests
{
    // Failure tests run with the production timeout, 50 ms; an answer slower than this bound
    // means the service waited on Redis instead of failing fast. Generous for a loaded 2-core
    // CI machine. Tests of the arithmetic use a roomy timeout instead (Roomy).
    private static readonly TimeSpan AnswerBound = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Roomy = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AcquireLease_BurstThenLimited_StateLivesInRedis()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var host = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);

        // 0.01 token/s: no whole token refills during the test.
        var first = await host.AcquireOneAsync("key:k1", 0.01, 10, 4);
        Assert.Equal((4, 6, 0), (first.GrantedTokens, first.TokensRemaining, first.RetryAfterMs));
        var second = await host.AcquireOneAsync("key:k1", 0.01, 10, 10);
        Assert.Equal((6, 0), (second.GrantedTokens, second.TokensRemaining));
        var third = await host.AcquireOneAsync("key:k1", 0.01, 10, 1);
        Assert.Equal(0, third.GrantedTokens);
        Assert.InRange(third.RetryAfterMs, 99_000, 100_000);

        // The bucket is a hash under the prefix, set to expire when it would be full again (~1000 s).
        Assert.Contains("veil:rl:key:k1", await redis.TryCommandAsync("KEYS veil:rl:*", Ct));
        var ttl = long.Parse((await redis.TryCommandAsync("PTTL veil:rl:key:k1", Ct))!.Trim(':', '\r', '\n'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(ttl, 990_000, 1_001_000);

        // The server clock is Redis TIME.
        var response = await host.AcquireAsync(RateLimitHost.Lease("key:k2", 1, 1, 1));
        Assert.InRange(response.ServerTimeUnixMs, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task AcquireLease_ConcurrentCallersOnTwoHosts_NeverExceedBurstPlusRefill()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var hostA = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);
        await using var hostB = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);
        await hostA.AcquireOneAsync("warmup", 1, 1, 0);
        await hostB.AcquireOneAsync("warmup", 1, 1, 0);
        const long burst = 50;
        const double rate = 20;

        // 2 hosts × 32 callers × 15 calls, 1–3 tokens each: far more than the bucket holds.
        var clock = Stopwatch.StartNew();
        var callers = new[] { hostA, hostB }.SelectMany(host => Enumerable.Range(0, 32).Select(c => Task.Run(async () =>
        {
            long granted = 0;
            for (var i = 0; i < 15; i++)
            {
                var requested = 1 + ((c + i) % 3);
                var result = await host.AcquireOneAsync("key:shared", rate, burst, requested);
                Assert.InRange(result.GrantedTokens, 0, requested);
                granted += result.GrantedTokens;
            }
            return granted;
        }, Ct))).ToArray();
        var total = (await Task.WhenAll(callers)).Sum();
        var elapsed = clock.Elapsed;

        // Redis TIME between the first and the last decision is within the wall-clock window.
        Assert.InRange(total, burst, burst + (long)Math.Ceiling(rate * elapsed.TotalSeconds));
    }

    [Fact]
    public async Task AcquireLease_TwoHostsOneRedis_ShareTheBucket()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var hostA = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);
        await using var hostB = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);

        Assert.Equal(10, (await hostA.AcquireOneAsync("consumer:acc_1", 0.01, 10, 10)).GrantedTokens);
        var fromB = await hostB.AcquireOneAsync("consumer:acc_1", 0.01, 10, 1);

        Assert.Equal(0, fromB.GrantedTokens);
        Assert.True(fromB.RetryAfterMs > 0);
    }

    [Fact]
    public async Task ReturnLease_GivesTokensBackToTheSharedBucket()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var host = RateLimitHost.ForRedis(redis.ConnectionString, Roomy);
        await host.AcquireOneAsync("key:k1", 0.01, 10, 10);

        var back = await host.Client.ReturnLeaseAsync(new ReturnLeaseRequest
        {
            Leases = { new ReturnedLease { Bucket = "key:k1", RatePerSecond = 0.01, Burst = 10, Tokens = 4 } },
        }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: Ct);

        Assert.Equal(4, back.Results.Single().TokensRemaining);
        Assert.Equal(4, (await host.AcquireOneAsync("key:k1", 0.01, 10, 10)).GrantedTokens);
    }

    [Fact]
    public async Task AcquireLease_RedisKilled_AnswersUnavailableQuickly_AndRecoversAfterRestart()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var host = RateLimitHost.ForRedis(redis.ConnectionString);
        using var rest = host.CreateRestClient();
        await WarmUpAsync(host);
        Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync("health", Ct)).StatusCode);

        redis.Kill();

        var causes = await AllUnavailableWithinBoundAsync(host, calls: 20);
        Assert.Contains("breaker_open", causes); // the breaker opened and now answers without trying
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await rest.GetAsync("health", Ct)).StatusCode);
        var metrics = await rest.GetStringAsync("metrics", Ct);
        Assert.Contains("veil_ratelimit_store_unavailable", metrics);
        Assert.Contains("veil_ratelimit_redis_breaker_state", metrics);

        // A fresh, empty Redis on the same port: the service finds it by itself.
        await redis.RestartAsync(Ct);
        await Eventually.HoldsAsync(async () => await TryAcquireAsync(host) is not null, RecoveryBound,
            "the service reconnects to the restarted Redis and closes its breaker");
        Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync("health", Ct)).StatusCode);
    }

    [Fact]
    public async Task AcquireLease_RedisPaused_AnswersWithinTimeout_AndRecoversOnResume()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var host = RateLimitHost.ForRedis(redis.ConnectionString);
        await WarmUpAsync(host);

        redis.Pause(); // the connection stays open; nothing answers

        var causes = await AllUnavailableWithinBoundAsync(host, calls: 20);
        Assert.Contains("timeout", causes);
        Assert.Contains("breaker_open", causes);

        redis.Resume();
        await Eventually.HoldsAsync(async () => await TryAcquireAsync(host) is not null, RecoveryBound,
            "the breaker closes once Redis answers again");
    }

    [Fact]
    public async Task AcquireLease_RedisNotReachableAtStart_ServiceStartsAndAnswersUnavailable()
    {
        var port = FreePort.Next(); // nothing listens there
        await using var host = RateLimitHost.ForRedis($"127.0.0.1:{port},connectTimeout=500");

        var causes = await AllUnavailableWithinBoundAsync(host, calls: 5);

        Assert.All(causes, c => Assert.Contains(c, new[] { "timeout", "connection", "breaker_open" }));
    }

    [Fact]
    public async Task AcquireLease_ThroughSentinel_UsesTheMaster()
    {
        await using var redis = await RedisServer.StartAsync(Ct);
        await using var sentinel = await redis.StartSentinelAsync("veil", Ct);
        await using var host = RateLimitHost.ForRedis($"127.0.0.1:{sentinel.Port},serviceName=veil", Roomy);

        Assert.Equal(2, (await host.AcquireOneAsync("key:via-sentinel", 1, 5, 2)).GrantedTokens);

        Assert.Contains("veil:rl:key:via-sentinel", await redis.TryCommandAsync("KEYS veil:rl:*", Ct));
    }

    /// <summary>Makes <paramref name="calls"/> calls; each must be UNAVAILABLE within <see cref="AnswerBound"/>.</summary>
    private static async Task<List<string>> AllUnavailableWithinBoundAsync(RateLimitHost host, int calls)
    {
        // Start the host and warm the gRPC path (a call rejected before the store) so that only
        // the store's behaviour is timed.
        await Assert.ThrowsAsync<RpcException>(() => host.AcquireAsync());
        var causes = new List<string>();
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<RpcException>(() => host.AcquireOneAsync("key:k1", 0.01, 10, 1));
            Assert.True(clock.Elapsed < AnswerBound, $"call {i} took {clock.Elapsed.TotalMilliseconds:0} ms");
            causes.Add(RpcAssert.Cause(ex));
        }
        return causes;
    }

    /// <summary>
    /// First calls of a fresh process (JIT, first connection) can miss a 50 ms budget on a busy
    /// machine; wait until the service answers before measuring failure behaviour.
    /// </summary>
    private static Task WarmUpAsync(RateLimitHost host) =>
        Eventually.HoldsAsync(async () => await TryAcquireAsync(host) is not null, RecoveryBound, "the service answers from Redis");

    private static async Task<LeaseResult?> TryAcquireAsync(RateLimitHost host)
    {
        try
        {
            return await host.AcquireOneAsync("probe", 1000, 1000, 1);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
        {
            return null;
        }
    }
}
