using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The edge's SSRF guard (docs/edge.md, "Upstream address guard"): an API upstream whose name
/// resolves to loopback is refused at connect time with 502 "upstream address not allowed" and
/// nothing reaches it; with Edge:AllowPrivateUpstreams the same upstream is called; management
/// routes to the fleet's own (loopback) services are never guarded.
/// </summary>
public sealed class UpstreamGuardTests(EdgeFixture fleet) : IClassFixture<EdgeFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri LoopbackNameUpstream => new($"http://{EdgeFixture.LoopbackName}:{fleet.Upstream.Url.Port}/");

    [Fact]
    public async Task Call_UpstreamNameResolvesToLoopback_Returns502NotAllowedAndNothingSent()
    {
        var api = await fleet.PublishApiAsync(LoopbackNameUpstream, edges: [fleet.Edge, fleet.GuardedEdge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var durations = new EdgeApiCallTests.RequestDurations(fleet.GuardedEdge.Services.GetRequiredService<IMeterFactory>());
        using var http = fleet.GuardedEdge.CreateRestClient();
        var path = "guarded-" + Guid.NewGuid().ToString("N");

        using var response = await CallAsync(http, api.Slug, consumer.Key, path);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal(502, problem["status"]!.GetValue<int>());
        Assert.StartsWith("Upstream address not allowed", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(fleet.Upstream.Paths, p => p.Contains(path, StringComparison.Ordinal));
        // Asked as an absolute name, so no resolver search list could have completed it.
        Assert.Contains(EdgeFixture.LoopbackName + ".", fleet.Resolver.Asked);
        await Eventually.HoldsAsync(() => Task.FromResult(durations.Count(api.ApiId, "upstream_not_allowed") == 1),
            Bound, $"the refusal is tagged upstream_not_allowed in http.server.request.duration; saw {durations}");
    }

    [Fact]
    public async Task Call_UpstreamNameResolvesToLoopback_AllowPrivateUpstreams_Forwarded()
    {
        var api = await fleet.PublishApiAsync(LoopbackNameUpstream, edges: [fleet.Edge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var path = "allowed-" + Guid.NewGuid().ToString("N");

        using var response = await CallAsync(http, api.Slug, consumer.Key, path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("/" + path, echo["path"]!.GetValue<string>());
        Assert.Equal($"{EdgeFixture.LoopbackName}:{fleet.Upstream.Url.Port}", echo["headers"]!["host"]!.GetValue<string>());
    }

    [Fact]
    public async Task Call_UpstreamLoopbackLiteral_Returns502NotAllowed()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: [fleet.GuardedEdge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.GuardedEdge.CreateRestClient();
        var path = "literal-" + Guid.NewGuid().ToString("N");

        using var response = await CallAsync(http, api.Slug, consumer.Key, path);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("Upstream address not allowed", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.DoesNotContain(fleet.Upstream.Paths, p => p.Contains(path, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ManagementRoute_GuardOn_StillReachesTheInternalServices()
    {
        using var http = fleet.GuardedEdge.CreateRestClient();

        // Identity listens on loopback, as the fleet's services sit on private addresses in a cluster.
        using var response = await http.GetAsync("openapi/identity.json", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<HttpResponseMessage> CallAsync(HttpClient http, string slug, string key, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/{path}");
        request.Headers.TryAddWithoutValidation("X-Api-Key", key);
        return await http.SendAsync(request, Ct);
    }
}
