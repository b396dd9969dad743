using System.Net;
using System.Net.Sockets;
using Veil.Catalog.Grpc;
using Veil.Identity.Grpc;
using Veil.RateLimit.Grpc;
using Veil.Subscriptions.Grpc;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Rate limiting against real things: a real <c>redis-server</c>, a ratelimit host in Redis mode
/// shared by two edges (<see cref="EdgeA"/>, <see cref="EdgeB"/>, EdgeCount 2), a ratelimit host in
/// memory mode behind <see cref="MemoryEdge"/> (default limits, IP limit included), and real
/// identity, catalog, subscriptions and upstream. The Redis edges' IP limit is set out of the way,
/// since every test calls from loopback; IP tests use <see cref="MemoryEdge"/> from their own
/// 127.0.0.x address.
/// </summary>
public sealed class RateLimitFixture : IAsyncLifetime
{
    public RedisServer Redis { get; private set; } = null!;
    public ServiceHost<RateLimitGrpcService> RedisRateLimit { get; } = new();
    public ServiceHost<RateLimitGrpcService> MemoryRateLimit { get; } = new();
    public ControlPlane ControlPlane { get; } = new();
    public ServiceHost<IdentityGrpcService> Identity => ControlPlane.Identity;
    public ServiceHost<CatalogGrpcService> Catalog => ControlPlane.Catalog;
    public ServiceHost<SubscriptionsGrpcService> Subscriptions => ControlPlane.Subscriptions;
    public ServiceHost<EdgeOptions> EdgeA { get; } = new();
    public ServiceHost<EdgeOptions> EdgeB { get; } = new();
    public ServiceHost<EdgeOptions> MemoryEdge { get; } = new();
    public EchoUpstream Upstream { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        Redis = await RedisServer.StartAsync(ct);
        Upstream = await EchoUpstream.StartAsync(ct);
        RedisRateLimit.With("RateLimit:Redis:Configuration", Redis.ConnectionString)
            .With("RateLimit:Redis:Timeout", "00:00:00.100")
            .With("RateLimit:Redis:BreakerMinimumThroughput", "4")
            .With("RateLimit:Redis:BreakerBreakDuration", "00:00:00.500")
            .Start();
        MemoryRateLimit.Start();
        ControlPlane.Start();

        foreach (var edge in new[] { EdgeA, EdgeB })
        {
            Wire(edge, RedisRateLimit)
                .With("Edge:RateLimiting:EdgeCount", "2")
                .With("Edge:RateLimiting:Ip:Quota", "100000000")
                .With("Edge:RateLimiting:Ip:Burst", "1000000")
                .With("Edge:RateLimiting:ProbeInterval", "00:00:00.200")
                .Start();
        }
        Wire(MemoryEdge, MemoryRateLimit).Start();
    }

    private ServiceHost<EdgeOptions> Wire(ServiceHost<EdgeOptions> edge, ServiceHost<RateLimitGrpcService> rateLimit) => ControlPlane.Wire(edge)
        // No usage service here: metering has its own tests (UsageFixture), and its spool would spend
        // shutdown trying to ship to an address nobody configured.
        .With("Edge:Usage:Enabled", "false")
        // The echo upstream listens on loopback, which the SSRF guard would refuse.
        .With("Edge:AllowPrivateUpstreams", "true")
        .With("services:ratelimit:grpc:0", rateLimit.GrpcUrl.ToString());

    public async ValueTask DisposeAsync()
    {
        await MemoryEdge.DisposeAsync();
        await EdgeB.DisposeAsync();
        await EdgeA.DisposeAsync();
        await ControlPlane.DisposeAsync();
        await MemoryRateLimit.DisposeAsync();
        await RedisRateLimit.DisposeAsync();
        await Upstream.DisposeAsync();
        await Redis.DisposeAsync();
    }

    /// <summary>A provider publishes an API with one roomy plan (so the key and consumer limits decide), routed by all edges.</summary>
    public async Task<PublishedApi> PublishApiAsync(int planRps = 100000)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = EdgeA.CreateRestClient();
        var provider = await SignUpAsync(http, "PROVIDER");
        var slug = "rl-" + Guid.NewGuid().ToString("N")[..12];
        var api = await EdgeFixture.PostAsync(http, "v1/apis", provider.Token,
            new { slug, name = "Echo " + slug, upstreamUrl = Upstream.Url.ToString(), timeoutMs = 5000 }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await EdgeFixture.PostAsync(http, "v1/plans", provider.Token,
            new { apiId, name = "Roomy", requestsPerSecond = planRps, burst = planRps }, ct);
        foreach (var edge in new[] { EdgeA, EdgeB, MemoryEdge })
        {
            await EdgeFixture.WaitRoutedAsync(edge, slug, TimeSpan.FromSeconds(10));
        }
        return new PublishedApi(apiId, slug, plan["plan"]!["id"]!.GetValue<string>(), provider);
    }

    /// <summary>A consumer subscribed to <paramref name="planId"/> with <paramref name="keys"/> keys.</summary>
    public async Task<(Account Account, string[] Keys)> ConsumerAsync(string planId, int keys = 1)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = EdgeA.CreateRestClient();
        var account = await SignUpAsync(http, "CONSUMER");
        await EdgeFixture.PostAsync(http, "v1/subscriptions", account.Token, new { planId }, ct);
        var result = new string[keys];
        for (var i = 0; i < keys; i++)
        {
            var key = await EdgeFixture.PostAsync(http, "v1/keys", account.Token, new { name = "k" + i }, ct);
            result[i] = key["key"]!.GetValue<string>();
        }
        return (account, result);
    }

    private static async Task<Account> SignUpAsync(HttpClient http, string role)
    {
        var email = $"{role[5..].ToLowerInvariant()}-{Guid.NewGuid():N}@example.com";
        var response = await EdgeFixture.PostAsync(http, "v1/auth/signup", null,
            new { email, password = "correct-horse-battery-staple", role }, TestContext.Current.CancellationToken);
        return new Account(response["account"]!["id"]!.GetValue<string>(), response["session"]!["accessToken"]!.GetValue<string>());
    }

    /// <summary>
    /// A client of <paramref name="edge"/> whose connections come from <paramref name="sourceAddress"/>
    /// (any 127.0.0.x works on Linux loopback), so each IP test has an IP bucket of its own.
    /// </summary>
    public static HttpClient Client(ServiceHost<EdgeOptions> edge, string sourceAddress = "127.0.0.1")
    {
        edge.Start();
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = edge.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
    }
}
