using Grpc.Core;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Veil.RateLimit.Grpc;
using Veil.RateLimit.V1;
using Veil.Testing;

namespace Veil.RateLimit.Tests;

/// <summary>The rate-limit service on real Kestrel, optionally on a fake clock, with a client.</summary>
internal sealed class RateLimitHost : ServiceHost<RateLimitGrpcService>
{
    private readonly TimeProvider? _time;
    private GrpcChannelHolder? _channel;

    public RateLimitHost(TimeProvider? time = null) => _time = time;

    /// <summary>
    /// A host in Redis mode with a quick breaker. The timeout is the production default (50 ms)
    /// for failure tests; tests of the arithmetic under load pass a roomier one, because a
    /// loaded 2-core test machine can stall a call longer than that.
    /// </summary>
    public static RateLimitHost ForRedis(string configuration, TimeSpan? timeout = null)
    {
        var host = new RateLimitHost();
        host.With("RateLimit:Redis:Configuration", configuration)
            .With("RateLimit:Redis:Timeout", (timeout ?? TimeSpan.FromMilliseconds(50)).ToString("c", System.Globalization.CultureInfo.InvariantCulture))
            .With("RateLimit:Redis:BreakerMinimumThroughput", "4")
            .With("RateLimit:Redis:BreakerBreakDuration", "00:00:00.500");
        return host;
    }

    public RateLimitService.RateLimitServiceClient Client =>
        (_channel ??= new GrpcChannelHolder(CreateGrpcChannel())).Client;

    /// <summary>AcquireLease with a deadline and the test's cancellation.</summary>
    public async Task<AcquireLeaseResponse> AcquireAsync(params LeaseRequest[] leases)
    {
        var request = new AcquireLeaseRequest { Leases = { leases } };
        return await Client.AcquireLeaseAsync(request, deadline: DateTime.UtcNow.AddSeconds(10),
            cancellationToken: TestContext.Current.CancellationToken);
    }

    /// <summary>The one result of a single-bucket AcquireLease.</summary>
    public async Task<LeaseResult> AcquireOneAsync(string bucket, double rate, long burst, long requested) =>
        (await AcquireAsync(Lease(bucket, rate, burst, requested))).Results.Single();

    public static LeaseRequest Lease(string bucket, double rate, long burst, long requested) =>
        new() { Bucket = bucket, RatePerSecond = rate, Burst = burst, RequestedTokens = requested };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (_time is not null)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(_time));
        }
    }

    public override async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await base.DisposeAsync();
    }

    private sealed class GrpcChannelHolder(global::Grpc.Net.Client.GrpcChannel channel) : IDisposable
    {
        public RateLimitService.RateLimitServiceClient Client { get; } = new(channel);

        public void Dispose() => channel.Dispose();
    }
}

internal static class RpcAssert
{
    /// <summary>The google.rpc.ErrorInfo cause of an UNAVAILABLE answer.</summary>
    public static string Cause(RpcException ex)
    {
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        var info = ex.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>();
        Assert.NotNull(info);
        Assert.Equal("RATE_LIMIT_STORE_UNAVAILABLE", info.Reason);
        return info.Metadata["cause"];
    }
}
