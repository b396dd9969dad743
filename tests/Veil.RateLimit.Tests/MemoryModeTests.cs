using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace Veil.RateLimit.Tests;

/// <summary>The embedded default: no Redis configured, buckets in memory, on a fake clock.</summary>
public sealed class MemoryModeTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task AcquireLease_Burst_ThenRefillsExactlyAtRate()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new RateLimitHost(clock);

        // A full bucket (burst 10) hands out its burst, the last request only partly.
        var first = await host.AcquireOneAsync("key:k1", rate: 2, burst: 10, requested: 4);
        Assert.Equal((4, 6, 0), (first.GrantedTokens, first.TokensRemaining, first.RetryAfterMs));
        var second = await host.AcquireOneAsync("key:k1", 2, 10, 10);
        Assert.Equal((6, 0, 0), (second.GrantedTokens, second.TokensRemaining, second.RetryAfterMs));

        // Empty: nothing granted, and the next token is 1/rate = 500 ms away.
        var empty = await host.AcquireOneAsync("key:k1", 2, 10, 1);
        Assert.Equal((0, 0, 500), (empty.GrantedTokens, empty.TokensRemaining, empty.RetryAfterMs));

        clock.Advance(TimeSpan.FromMilliseconds(499));
        var early = await host.AcquireOneAsync("key:k1", 2, 10, 1);
        Assert.Equal((0, 1), (early.GrantedTokens, early.RetryAfterMs));

        clock.Advance(TimeSpan.FromMilliseconds(1));
        var onTime = await host.AcquireOneAsync("key:k1", 2, 10, 1);
        Assert.Equal((1, 0), (onTime.GrantedTokens, onTime.TokensRemaining));

        // 3 s refill 6 tokens; a long idle period refills no more than the burst.
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(6, (await host.AcquireOneAsync("key:k1", 2, 10, 0)).TokensRemaining);
        clock.Advance(TimeSpan.FromHours(1));
        var full = await host.AcquireOneAsync("key:k1", 2, 10, 100);
        Assert.Equal((10, 0), (full.GrantedTokens, full.TokensRemaining));
    }

    [Fact]
    public async Task AcquireLease_FractionalRate_RefillsOneTokenPerInterval()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new RateLimitHost(clock);
        const double perMinute1000 = 1000.0 / 60; // 60 ms per token

        Assert.Equal(50, (await host.AcquireOneAsync("ip:192.0.2.1", perMinute1000, 50, 50)).GrantedTokens);
        Assert.Equal(60, (await host.AcquireOneAsync("ip:192.0.2.1", perMinute1000, 50, 1)).RetryAfterMs);

        for (var i = 0; i < 100; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(59));
            Assert.Equal(0, (await host.AcquireOneAsync("ip:192.0.2.1", perMinute1000, 50, 1)).GrantedTokens);
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal(1, (await host.AcquireOneAsync("ip:192.0.2.1", perMinute1000, 50, 1)).GrantedTokens);
        }
    }

    [Fact]
    public async Task AcquireLease_Batch_AnswersEachBucketInOrder()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new RateLimitHost(clock);
        host.With("RateLimit:LeaseTtl", "00:00:00.250");
        await host.AcquireOneAsync("consumer:acc_1", 1, 5, 5);

        var response = await host.AcquireAsync(
            RateLimitHost.Lease("key:k1", 100, 10, 7),
            RateLimitHost.Lease("consumer:acc_1", 1, 5, 1),
            RateLimitHost.Lease("plan:sub_1", 0.5, 3, 0));

        Assert.Equal([7L, 0L, 0L], response.Results.Select(r => r.GrantedTokens));
        Assert.Equal([3L, 0L, 3L], response.Results.Select(r => r.TokensRemaining));
        Assert.Equal([0L, 1000L, 0L], response.Results.Select(r => r.RetryAfterMs));
        Assert.All(response.Results, r => Assert.Equal(250, r.LeaseTtlMs));
        Assert.Equal(Start.ToUnixTimeMilliseconds(), response.ServerTimeUnixMs);
    }

    [Fact]
    public async Task ReturnLease_GivesTokensBack_NeverAboveBurst()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = new RateLimitHost(clock);
        await host.AcquireOneAsync("key:k1", 1, 10, 8);
        var ct = TestContext.Current.CancellationToken;

        var back = await host.Client.ReturnLeaseAsync(new V1.ReturnLeaseRequest
        {
            Leases = { new V1.ReturnedLease { Bucket = "key:k1", RatePerSecond = 1, Burst = 10, Tokens = 5 } },
        }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
        Assert.Equal(7, back.Results.Single().TokensRemaining);

        var over = await host.Client.ReturnLeaseAsync(new V1.ReturnLeaseRequest
        {
            Leases = { new V1.ReturnedLease { Bucket = "key:k1", RatePerSecond = 1, Burst = 10, Tokens = 50 } },
        }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
        Assert.Equal(10, over.Results.Single().TokensRemaining);
    }

    [Fact]
    public async Task AcquireLease_NoRedisConfigured_ServesFromMemoryWithHealthAndMetrics()
    {
        await using var host = new RateLimitHost();
        var result = await host.AcquireOneAsync("key:k1", 100, 10, 3);
        Assert.Equal((3, 7), (result.GrantedTokens, result.TokensRemaining));
        Assert.Equal(1000, result.LeaseTtlMs);

        using var rest = host.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await rest.GetAsync("health", ct)).StatusCode);
        var metrics = await rest.GetStringAsync("metrics", ct);
        Assert.Contains("veil_ratelimit_decisions", metrics);
        Assert.Contains("veil_store=\"memory\"", metrics);
    }
}
