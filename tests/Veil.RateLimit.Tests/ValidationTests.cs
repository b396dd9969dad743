using Google.Rpc;
using Grpc.Core;
using Veil.RateLimit.V1;

namespace Veil.RateLimit.Tests;

/// <summary>Bad input is INVALID_ARGUMENT with a BadRequest naming each bad field.</summary>
public sealed class ValidationTests
{
    public static TheoryData<string, double, long, long, string> BadLeases => new()
    {
        { "", 1, 1, 1, "leases[0].bucket" },
        { new string('b', 201), 1, 1, 1, "leases[0].bucket" },
        { "key:k", 0, 1, 1, "leases[0].rate_per_second" },
        { "key:k", -1, 1, 1, "leases[0].rate_per_second" },
        { "key:k", double.NaN, 1, 1, "leases[0].rate_per_second" },
        { "key:k", double.PositiveInfinity, 1, 1, "leases[0].rate_per_second" },
        { "key:k", 1, 0, 1, "leases[0].burst" },
        { "key:k", 1, -5, 1, "leases[0].burst" },
        { "key:k", 1, 1, -1, "leases[0].requested_tokens" },
    };

    [Theory]
    [MemberData(nameof(BadLeases))]
    public async Task AcquireLease_InvalidField_ReturnsFieldViolation(string bucket, double rate, long burst, long requested, string field)
    {
        await using var host = new RateLimitHost();

        var ex = await Assert.ThrowsAsync<RpcException>(() => host.AcquireAsync(RateLimitHost.Lease(bucket, rate, burst, requested)));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal([field], Violations(ex));
    }

    [Fact]
    public async Task AcquireLease_200CharacterBucket_IsAccepted()
    {
        await using var host = new RateLimitHost();
        Assert.Equal(1, (await host.AcquireOneAsync(new string('b', 200), 1, 1, 1)).GrantedTokens);
    }

    [Fact]
    public async Task AcquireLease_NoBuckets_ReturnsFieldViolation()
    {
        await using var host = new RateLimitHost();
        var ex = await Assert.ThrowsAsync<RpcException>(() => host.AcquireAsync());
        Assert.Equal(["leases"], Violations(ex));
    }

    [Fact]
    public async Task AcquireLease_101Buckets_ReturnsFieldViolation()
    {
        await using var host = new RateLimitHost();
        var leases = Enumerable.Range(0, 101).Select(i => RateLimitHost.Lease($"key:{i}", 1, 1, 1)).ToArray();

        var ex = await Assert.ThrowsAsync<RpcException>(() => host.AcquireAsync(leases));

        Assert.Equal(["leases"], Violations(ex));
        // 100 is the limit, not 99.
        Assert.Equal(100, (await host.AcquireAsync(leases[..100])).Results.Count);
    }

    [Fact]
    public async Task AcquireLease_SeveralBadFields_ReportsEveryOne()
    {
        await using var host = new RateLimitHost();
        var ex = await Assert.ThrowsAsync<RpcException>(() => host.AcquireAsync(
            RateLimitHost.Lease("key:ok", 1, 1, 1),
            RateLimitHost.Lease("", 0, 0, -1)));
        Assert.Equal(["leases[1].bucket", "leases[1].rate_per_second", "leases[1].burst", "leases[1].requested_tokens"], Violations(ex));
    }

    [Fact]
    public async Task ReturnLease_NegativeTokens_ReturnsFieldViolation()
    {
        await using var host = new RateLimitHost();
        var ex = await Assert.ThrowsAsync<RpcException>(() => host.Client.ReturnLeaseAsync(new ReturnLeaseRequest
        {
            Leases = { new ReturnedLease { Bucket = "key:k", RatePerSecond = 1, Burst = 1, Tokens = -1 } },
        }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: TestContext.Current.CancellationToken).ResponseAsync);
        Assert.Equal(["leases[0].tokens"], Violations(ex));
    }

    private static string[] Violations(RpcException ex)
    {
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        var badRequest = ex.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return badRequest.FieldViolations.Select(v => v.Field).ToArray();
    }
}
