using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Routing;
using Veil.Edge.Upstreams;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Tests;

/// <summary>
/// What routing puts in an API's cluster for its targets and health check (the proto's defaults,
/// the edge's own policies), and the weighted rotation itself, without hosts.
/// </summary>
public sealed class ApiUpstreamsTests
{
    private static GatewayRoute Route(HealthCheckPolicy? health = null, string loadBalancing = "")
    {
        var route = new GatewayRoute { ApiId = "api_1", Slug = "weather", UpstreamUrl = "http://127.0.0.1:5900/", Version = 1, ProviderId = "acc_1" };
        if (health is not null || loadBalancing.Length > 0)
        {
            route.Policies = new ApiPolicies { HealthCheck = health };
            if (loadBalancing.Length > 0)
            {
                route.Policies.Targets = new UpstreamTargets { LoadBalancing = loadBalancing };
                route.Policies.Targets.Items.Add(new UpstreamTarget { Url = "http://127.0.0.1:5901/", Weight = 2 });
                route.Policies.Targets.Items.Add(new UpstreamTarget { Url = "http://127.0.0.1:5902/" });
            }
        }
        return route;
    }

    private static ClusterConfig Cluster(GatewayRoute source)
    {
        Assert.True(ApiRoutes.TryCreate(source, TimeSpan.FromSeconds(30), out _, out var cluster, out var problem), problem);
        return cluster;
    }

    [Fact]
    public void TryCreate_HealthCheckPathOnly_ProtoDefaults_EdgePolicy_NoPanicMode()
    {
        var cluster = Cluster(Route(new HealthCheckPolicy { Path = "/health" }));

        var active = cluster.HealthCheck!.Active!;
        Assert.True(active.Enabled);
        Assert.Equal("/health", active.Path);
        Assert.Equal(TimeSpan.FromSeconds(10), active.Interval);
        Assert.Equal(TimeSpan.FromSeconds(2), active.Timeout);
        Assert.Equal(ApiUpstreams.ThresholdHealthPolicy, active.Policy);
        Assert.Equal(HealthCheckConstants.AvailableDestinations.HealthyAndUnknown, cluster.HealthCheck.AvailableDestinationsPolicy);
        Assert.Equal((2, 3), ApiUpstreams.Thresholds(cluster));
        Assert.Equal(10, ApiUpstreams.RetryAfterSeconds(cluster));
    }

    [Fact]
    public void TryCreate_HealthCheckValues_Kept_RetryAfterRoundsUp()
    {
        var cluster = Cluster(Route(new HealthCheckPolicy { Path = "/up", IntervalMs = 1500, TimeoutMs = 300, HealthyThreshold = 1, UnhealthyThreshold = 7 }));

        Assert.Equal(TimeSpan.FromMilliseconds(1500), cluster.HealthCheck!.Active!.Interval);
        Assert.Equal(TimeSpan.FromMilliseconds(300), cluster.HealthCheck.Active.Timeout);
        Assert.Equal((1, 7), ApiUpstreams.Thresholds(cluster));
        Assert.Equal(2, ApiUpstreams.RetryAfterSeconds(cluster));
    }

    [Fact]
    public void TryCreate_NoHealthCheck_NoneConfigured_RoundRobinIsTheWeightedOne()
    {
        var plain = Cluster(Route());
        Assert.Null(plain.HealthCheck);
        Assert.Equal(ApiUpstreams.WeightedRoundRobin, plain.LoadBalancingPolicy);

        var targets = Cluster(Route(loadBalancing: "round_robin"));
        Assert.Equal(ApiUpstreams.WeightedRoundRobin, targets.LoadBalancingPolicy);
        Assert.Equal("2", targets.Destinations!["t0"].Metadata![ApiUpstreams.WeightKey]);
        Assert.Equal("1", targets.Destinations["t1"].Metadata![ApiUpstreams.WeightKey]);
    }

    [Theory]
    [InlineData(new[] { 3, 1 })]
    [InlineData(new[] { 5, 3, 2 })]
    [InlineData(new[] { 100, 1 })]
    [InlineData(new[] { 4, 4, 4 })]
    public void WeightedRotation_OneCycle_EachTargetAsOftenAsItsWeight(int[] weights)
    {
        var targets = weights.Select((w, i) => new DestinationState("t" + i, new DestinationModel(new DestinationConfig
        {
            Address = "http://127.0.0.1:5900/",
            Metadata = new Dictionary<string, string> { [ApiUpstreams.WeightKey] = w.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        }))).ToArray();
        var model = new ClusterModel(new ClusterConfig { ClusterId = "api-1" }, new HttpMessageInvoker(new HttpClientHandler()));
        var rotation = new WeightedRotation(model, targets);
        var divisor = weights.Aggregate(0, (a, b) => (int)System.Numerics.BigInteger.GreatestCommonDivisor(a, b));
        const int cycles = 7;
        var total = weights.Sum() / divisor * cycles;

        var picks = Enumerable.Range(0, total).Select(_ => rotation.Next()).GroupBy(d => d.DestinationId).ToDictionary(g => g.Key, g => g.Count());

        for (var i = 0; i < weights.Length; i++)
        {
            Assert.Equal(weights[i] / divisor * cycles, picks[targets[i].DestinationId]);
        }
        Assert.True(rotation.IsFor(model, [.. targets]));
        Assert.False(rotation.IsFor(model, targets[1..]));
    }
}
