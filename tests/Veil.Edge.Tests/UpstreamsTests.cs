using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Several targets behind one API (docs/load-balancing-and-health.md), through real edges to real
/// targets on loopback: weighted round robin, active health checks taking targets out and back,
/// the 503 when none is healthy, the provider's GET /v1/apis/{api_id}/health, and probes under the
/// SSRF guard.
/// </summary>
public sealed class UpstreamsTests(UpstreamsFixture fixture) : IClassFixture<UpstreamsFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static object Targets(params (HealthTarget Target, int Weight)[] targets) =>
        targets.Select(t => new { url = t.Target.Url.ToString(), weight = t.Weight }).ToArray();

    /// <summary>1 s probes, 500 ms timeout; two failures take a target out, two successes bring it back.</summary>
    private static object FastHealthCheck(int healthyThreshold = 2, int unhealthyThreshold = 2) =>
        new { path = "/health", intervalMs = 1000, timeoutMs = 500, healthyThreshold, unhealthyThreshold };

    private static async Task<HttpResponseMessage> CallAsync(ServiceHost<EdgeOptions> edge, PublishedApi api, Consumer consumer, string path = "work")
    {
        using var http = edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{api.Slug}/{path}");
        request.Headers.Add("X-Api-Key", consumer.Key);
        return await http.SendAsync(request, Ct);
    }

    private static async Task WaitStateAsync(ServiceHost<EdgeOptions> edge, PublishedApi api, string target, string state, Action<JsonNode>? observe = null)
    {
        await Eventually.HoldsAsync(async () =>
        {
            var (status, body, response) = await UpstreamsFixture.HealthAsync(edge, api.ApiId, api.Provider.Token);
            response.Dispose();
            if (status == HttpStatusCode.NotFound)
            {
                return false; // this edge does not route the API yet
            }
            Assert.Equal(HttpStatusCode.OK, status);
            var node = UpstreamsFixture.Target(body!, target);
            observe?.Invoke(node);
            // The state is set a moment before the set of targets in rotation is rebuilt: wait for both.
            return node["state"]!.GetValue<string>() == state && node["inRotation"]!.GetValue<bool>() == (state != "unhealthy");
        }, Bound, $"target {target} becomes {state}");
    }

    /// <summary>One observation of <c>veil.edge.upstream.healthy</c> on <paramref name="edge"/>, by (API id, target id).</summary>
    private static Dictionary<(string ApiId, string Target), int> HealthyGauge(ServiceHost<EdgeOptions> edge)
    {
        var scope = edge.Services.GetRequiredService<IMeterFactory>();
        var values = new Dictionary<(string, string), int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "veil.edge.upstream.healthy" && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            var named = new Dictionary<string, string>();
            foreach (var tag in tags)
            {
                named[tag.Key] = tag.Value?.ToString() ?? "";
            }
            Assert.Equal(["veil.api_id", "veil.target"], named.Keys.Order(StringComparer.Ordinal).ToArray());
            Assert.DoesNotContain(named.Values, v => v.Contains("127.0.0.1", StringComparison.Ordinal));
            values[(named["veil.api_id"], named["veil.target"])] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    [Fact]
    public async Task RoundRobin_Weights3To1_CallsSplitInProportion()
    {
        await using var heavy = await HealthTarget.StartAsync("heavy");
        await using var light = await HealthTarget.StartAsync("light");
        var (api, consumer) = await fixture.PublishAsync(new { targets = new { items = Targets((heavy, 3), (light, 1)) } });

        for (var i = 0; i < 400; i++)
        {
            using var response = await CallAsync(fixture.Edge, api, consumer);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // One edge, calls in sequence: the rotation (heavy heavy light heavy) is exact, give or take
        // the cycle in progress.
        Assert.Equal(400, heavy.Calls + light.Calls);
        Assert.InRange(heavy.Calls, 296, 304);
    }

    [Fact]
    public async Task HealthCheck_TargetStopped_LeavesRotationWithoutErrors_ReturnsAfterHealthyThreshold()
    {
        await using var steady = await HealthTarget.StartAsync("steady");
        await using var flaky = await HealthTarget.StartAsync("flaky");
        var (api, consumer) = await fixture.PublishAsync(new
        {
            targets = new { items = Targets((steady, 1), (flaky, 1)) },
            healthCheck = FastHealthCheck(),
        });
        await WaitStateAsync(fixture.Edge, api, "t1", "healthy");

        await flaky.StopAsync();
        // Out within interval × unhealthy_threshold (2 s), plus a probe round's slack.
        await WaitStateAsync(fixture.Edge, api, "t1", "unhealthy");
        var steadyBefore = steady.Calls;
        for (var i = 0; i < 20; i++)
        {
            using var response = await CallAsync(fixture.Edge, api, consumer);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(steadyBefore + 20, steady.Calls);

        await flaky.StartAsync();
        var earlyReturns = new List<string>();
        await WaitStateAsync(fixture.Edge, api, "t1", "healthy", node =>
        {
            if (node["state"]!.GetValue<string>() == "healthy" && node["consecutiveSuccesses"]!.GetValue<int>() < 2)
            {
                earlyReturns.Add(node.ToJsonString());
            }
        });
        Assert.Empty(earlyReturns);
        var flakyBefore = flaky.Calls;
        for (var i = 0; i < 10; i++)
        {
            using var response = await CallAsync(fixture.Edge, api, consumer);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(flakyBefore + 5, flaky.Calls);
    }

    [Fact]
    public async Task HealthCheck_NoHealthyTarget_503ProblemWithRetryAfterAtOnce_UpstreamNotCalled()
    {
        await using var sick = await HealthTarget.StartAsync("sick");
        var (api, consumer) = await fixture.PublishAsync(new
        {
            targets = new { items = Targets((sick, 1)) },
            healthCheck = FastHealthCheck(unhealthyThreshold: 1),
        });
        sick.HealthStatus = HttpStatusCode.ServiceUnavailable;
        await WaitStateAsync(fixture.Edge, api, "t0", "unhealthy");

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await CallAsync(fixture.Edge, api, consumer);
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);

        var problem = await Expect.ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("https://veil.dev/problems/no-healthy-upstream", problem.GetProperty("type").GetString());
        Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
        // The target still answers its API paths: the edge did not try it.
        Assert.Equal(0, sick.Calls);
        // At once: not after the API's 5 s timeout.
        Assert.True(elapsed < TimeSpan.FromSeconds(4), $"answered after {elapsed}");

        sick.HealthStatus = HttpStatusCode.OK;
        await WaitStateAsync(fixture.Edge, api, "t0", "healthy");
        using var back = await CallAsync(fixture.Edge, api, consumer);
        Assert.Equal(HttpStatusCode.OK, back.StatusCode);
        Assert.Equal(1, sick.Calls);
    }

    [Fact]
    public async Task HealthEndpoint_OwnerSeesEachTarget_OthersGet404_NoToken401()
    {
        await using var up = await HealthTarget.StartAsync("up");
        await using var down = await HealthTarget.StartAsync("down");
        down.HealthStatus = HttpStatusCode.InternalServerError;
        var (api, consumer) = await fixture.PublishAsync(new
        {
            targets = new { items = Targets((up, 3), (down, 1)) },
            healthCheck = FastHealthCheck(),
        });
        await WaitStateAsync(fixture.Edge, api, "t1", "unhealthy");
        await WaitStateAsync(fixture.Edge, api, "t0", "healthy");

        var (status, body, response) = await UpstreamsFixture.HealthAsync(fixture.Edge, api.ApiId, api.Provider.Token);
        using (response)
        {
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        }
        Assert.Equal(api.ApiId, body!["apiId"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(body["edge"]!.GetValue<string>()));
        Assert.Equal("/health", body["healthCheck"]!["path"]!.GetValue<string>());
        Assert.Equal(1000, body["healthCheck"]!["intervalMs"]!.GetValue<int>());
        var t0 = UpstreamsFixture.Target(body, "t0");
        Assert.Equal(up.Url.ToString(), t0["url"]!.GetValue<string>());
        Assert.Equal(3, t0["weight"]!.GetValue<int>());
        Assert.True(t0["inRotation"]!.GetValue<bool>());
        Assert.Equal("success", t0["lastProbeResult"]!.GetValue<string>());
        Assert.Equal(200, t0["lastProbeStatusCode"]!.GetValue<int>());
        Assert.NotNull(t0["lastProbeTime"]);
        var t1 = UpstreamsFixture.Target(body, "t1");
        Assert.False(t1["inRotation"]!.GetValue<bool>());
        Assert.Equal("failure", t1["lastProbeResult"]!.GetValue<string>());
        Assert.Equal(500, t1["lastProbeStatusCode"]!.GetValue<int>());
        Assert.True(t1["consecutiveFailures"]!.GetValue<int>() >= 2);

        // The same states as metrics, by API and target id, with no address in any tag.
        var gauge = HealthyGauge(fixture.Edge);
        Assert.Equal(1, gauge[(api.ApiId, "t0")]);
        Assert.Equal(0, gauge[(api.ApiId, "t1")]);

        // Another provider, the API's own consumer, and an unknown API: one 404 for all.
        using var http = fixture.Edge.CreateRestClient();
        var stranger = await fixture.SignUpAsync(http, "PROVIDER");
        foreach (var (apiId, token) in new[] { (api.ApiId, stranger.Token), (api.ApiId, consumer.Account.Token), ("api_unknown", api.Provider.Token) })
        {
            var (code, _, refused) = await UpstreamsFixture.HealthAsync(fixture.Edge, apiId, token);
            using (refused)
            {
                await Expect.ProblemAsync(refused, HttpStatusCode.NotFound);
            }
            Assert.Equal(HttpStatusCode.NotFound, code);
        }
        var (anonymous, _, unauthenticated) = await UpstreamsFixture.HealthAsync(fixture.Edge, api.ApiId, null);
        using (unauthenticated)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous);
        }
        var (forged, _, badToken) = await UpstreamsFixture.HealthAsync(fixture.Edge, api.ApiId, api.Provider.Token[..^4] + "AAAA");
        using (badToken)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, forged);
        }
    }

    [Fact]
    public async Task HealthCheck_ProbesGoThroughTheSsrfGuard_LoopbackTargetRefused()
    {
        await using var inside = await HealthTarget.StartAsync("inside");
        var (api, _) = await fixture.PublishAsync(new
        {
            targets = new { items = Targets((inside, 1)) },
            healthCheck = FastHealthCheck(unhealthyThreshold: 1),
        }, fixture.GuardedEdge);

        var last = default(JsonNode);
        await WaitStateAsync(fixture.GuardedEdge, api, "t0", "unhealthy", node => last = node);

        Assert.Equal("address_not_allowed", last!["lastProbeError"]!.GetValue<string>());
        // The edge that allows private upstreams probes it: the probes the target saw are that edge's.
        await WaitStateAsync(fixture.Edge, api, "t0", "healthy");
        Assert.True(inside.Probes > 0);
    }
}
