using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Routing;

namespace Veil.Edge.Tests;

/// <summary>
/// A config version the edge cannot apply never replaces a good one: the API keeps being served at
/// its last good version, and the failure is logged and counted once per version (docs/edge.md,
/// "Routing"). Catalog refuses such configs, so this guards against a catalog newer than the edge.
/// </summary>
public sealed class GatewayRouteTableTests
{
    private static GatewayRoute Route(long version, string upstream = "http://127.0.0.1:5900/v1", int signingKeys = 0)
    {
        var route = new GatewayRoute { ApiId = "api_1", Slug = "weather", UpstreamUrl = upstream, Version = version, ProviderId = "acc_1" };
        route.SigningKeys.AddRange(Enumerable.Range(0, signingKeys).Select(_ => ByteString.CopyFromUtf8("vsig_key")));
        return route;
    }

    private static GatewayConfig Config(long revision, params GatewayRoute[] routes)
    {
        var config = new GatewayConfig { Revision = revision };
        config.Routes.AddRange(routes);
        return config;
    }

    private static (GatewayRouteTable Table, FakeLogCollector Logs) NewTable()
    {
        var logger = new FakeLogger<GatewayRouteTable>();
        return (new GatewayRouteTable(Options.Create(new EdgeOptions()), new UpstreamPolicies(), TimeProvider.System, logger), logger.Collector);
    }

    private static string? ServedUpstream(GatewayRouteTable table) =>
        table.Provider.GetConfig().Clusters.SingleOrDefault(c => c.ClusterId == "api-api_1")?.Destinations?.Single().Value.Address;

    private static int Rejections(FakeLogCollector logs) =>
        logs.GetSnapshot().Count(r => r.Level == LogLevel.Error && r.Id.Id is 4005 or 4008);

    [Fact]
    public void Apply_VersionItCannotApply_KeepsTheLastGoodVersion_LoggedAndCountedOnce()
    {
        var (table, logs) = NewTable();
        table.Apply(Config(1, Route(1)));
        Assert.Equal("http://127.0.0.1:5900/v1", ServedUpstream(table));

        // Three signing keys: more than the edge knows how to send.
        table.Apply(Config(2, Route(2, upstream: "http://127.0.0.1:5901/v2", signingKeys: 3)));
        table.Apply(Config(3, Route(2, upstream: "http://127.0.0.1:5901/v2", signingKeys: 3)));

        Assert.Equal("http://127.0.0.1:5900/v1", ServedUpstream(table));
        Assert.Equal(1, table.RejectedRouteVersions);
        Assert.Equal(1, table.StaleApiRoutes);
        Assert.Equal(1, Rejections(logs));
        Assert.Contains(logs.GetSnapshot(), r => r.Id.Id == 4008 && r.Message.Contains("still serving its version 1", StringComparison.Ordinal));

        // The next good version replaces it, and nothing is stale any more.
        table.Apply(Config(4, Route(3, upstream: "http://127.0.0.1:5902/v3")));
        Assert.Equal("http://127.0.0.1:5902/v3", ServedUpstream(table));
        Assert.Equal(0, table.StaleApiRoutes);
        Assert.Equal(1, Rejections(logs));
    }

    [Fact]
    public void Apply_FirstVersionCannotBeApplied_NotServed_LoggedOnce()
    {
        var (table, logs) = NewTable();

        table.Apply(Config(1, Route(1, upstream: "ftp://127.0.0.1/v1")));
        table.Apply(Config(2, Route(1, upstream: "ftp://127.0.0.1/v1")));

        Assert.Null(ServedUpstream(table));
        Assert.Equal(1, table.RejectedRouteVersions);
        Assert.Equal(0, table.StaleApiRoutes);
        Assert.Equal(1, Rejections(logs));
        Assert.Contains(logs.GetSnapshot(), r => r.Id.Id == 4005);
    }

    [Fact]
    public void Apply_Releases_EachItsOwnRouteAndCluster_ABadReleaseKeepsTheWholeApiAtItsLastGoodVersion()
    {
        var (table, logs) = NewTable();
        var withRelease = Route(1);
        withRelease.Releases.Add(new ApiRelease { Name = "v1" });
        withRelease.Releases.Add(new ApiRelease
        {
            Name = "v2",
            UpstreamUrl = "http://127.0.0.1:5910/r2",
            Policies = new ApiPolicies { CircuitBreaker = new CircuitBreakerPolicy { MinimumRequests = 5 } },
        });
        table.Apply(Config(1, withRelease));

        var config = table.Provider.GetConfig();
        // Its own cluster: its own destinations, health checks, breakers and retry budget.
        var v2 = config.Clusters.Single(c => c.ClusterId == "api-api_1.v2");
        Assert.Equal("http://127.0.0.1:5910/r2", v2.Destinations!.Single().Value.Address);
        Assert.True(v2.Metadata!.ContainsKey(ResiliencePolicies.CircuitBreakerKey));
        Assert.False(config.Clusters.Single(c => c.ClusterId == "api-api_1").Metadata!.ContainsKey(ResiliencePolicies.CircuitBreakerKey));
        Assert.Equal("/weather/v2/{**rest}", config.Routes.Single(r => r.RouteId == "api-api_1.v2").Match.Path);
        Assert.Equal(["v1", "v2"], config.Routes.Where(r => r.Match.Headers is { Count: 1 }).OrderBy(r => r.Order)
            .Select(r => r.Match.Headers![0].Values![0]).ToArray());

        // A release name the edge refuses: the API stays at version 1, v2 included.
        var bad = Route(2, upstream: "http://127.0.0.1:5901/v2");
        bad.Releases.Add(new ApiRelease { Name = "v1" });
        bad.Releases.Add(new ApiRelease { Name = "v2/{**x}", UpstreamUrl = "http://127.0.0.1:5911" });
        table.Apply(Config(2, bad));

        Assert.Equal("http://127.0.0.1:5900/v1", ServedUpstream(table));
        Assert.Contains(table.Provider.GetConfig().Clusters, c => c.ClusterId == "api-api_1.v2");
        Assert.Equal(1, table.StaleApiRoutes);
        Assert.Equal(1, Rejections(logs));
    }
}
