using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>An edge whose services are all unreachable (nothing listens on their ports).</summary>
public sealed class StandaloneEdgeFixture : IAsyncLifetime
{
    public ServiceHost<EdgeOptions> Edge { get; } = new();

    public ValueTask InitializeAsync()
    {
        foreach (var service in new[] { "identity", "catalog", "subscriptions" })
        {
            Edge.With($"services:{service}:http:0", $"http://127.0.0.1:{FreePort.Next()}")
                .With($"services:{service}:grpc:0", $"http://127.0.0.1:{FreePort.Next()}");
        }
        Edge.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => Edge.DisposeAsync();
}

/// <summary>The edge on its own with the control plane down: what a user sees then.</summary>
public sealed class EdgeStandaloneTests(StandaloneEdgeFixture fixture) : IClassFixture<StandaloneEdgeFixture>
{
    private readonly ServiceHost<EdgeOptions> _edge = fixture.Edge;

    [Fact]
    public async Task UnknownPath_NoApiThere_Returns404Problem()
    {
        using var http = _edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;

        using var response = await http.GetAsync("no-such-api/anything?x=1", ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
        Assert.Equal(404, problem["status"]!.GetValue<int>());
        Assert.True(response.Headers.Contains("X-Request-Id"));
    }

    [Fact]
    public async Task AllowedHosts_Default_AnyHostServed()
    {
        // Host filtering covers every listener; /_veil/edge is on the management port.
        using var http = _edge.CreateManagementClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "_veil/edge");
        request.Headers.Host = "anything.example.com";

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AllowedHosts_Configured_OtherHostsRefusedWith400()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var edge = new ServiceHost<EdgeOptions>();
        foreach (var service in new[] { "identity", "catalog", "subscriptions" })
        {
            edge.With($"services:{service}:http:0", $"http://127.0.0.1:{FreePort.Next()}")
                .With($"services:{service}:grpc:0", $"http://127.0.0.1:{FreePort.Next()}");
        }
        edge.With("AllowedHosts", "api.veil.example.com;*.edge.example.com").Start();
        using var http = edge.CreateManagementClient();

        async Task<HttpStatusCode> StatusForHostAsync(string host)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "_veil/edge");
            request.Headers.Host = host;
            using var response = await http.SendAsync(request, ct);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await StatusForHostAsync("api.veil.example.com"));
        Assert.Equal(HttpStatusCode.OK, await StatusForHostAsync("API.VEIL.EXAMPLE.COM:443"));
        Assert.Equal(HttpStatusCode.OK, await StatusForHostAsync("eu.edge.example.com"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusForHostAsync("evil.example.com"));
        Assert.Equal(HttpStatusCode.BadRequest, await StatusForHostAsync($"127.0.0.1:{edge.HttpPort}"));
    }

    [Fact]
    public async Task ManagementRoute_ServiceDown_Returns502ProblemQuickly()
    {
        using var http = _edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        var clock = Stopwatch.StartNew();

        using var response = await http.GetAsync("v1/apis", ct);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("metrics")]
    [InlineData("health")]
    [InlineData("alive")]
    [InlineData("_veil/edge")]
    public async Task PublicPort_OperationsPath_Returns404Problem_EvenWithTheManagementHost(string path)
    {
        using var http = _edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;

        using var plain = await http.GetAsync(path, ct);
        // The management port is told apart by the connection's local port, not the Host header.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, path);
        spoofed.Headers.Host = $"127.0.0.1:{_edge.ManagementPort}";
        using var withHost = await http.SendAsync(spoofed, ct);

        foreach (var response in new[] { plain, withHost })
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.DoesNotContain("# TYPE", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ManagementPort_ServesOperationsEndpoints_AndNothingElse()
    {
        using var management = _edge.CreateManagementClient();
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("alive", ct)).StatusCode);
        Assert.Contains("# TYPE ", await management.GetStringAsync("metrics", ct), StringComparison.Ordinal);
        Assert.NotNull(JsonNode.Parse(await management.GetStringAsync("_veil/edge", ct))!["apiRoutes"]);

        // Neither the management REST API nor an API route is reachable through this port.
        foreach (var path in new[] { "v1/apis", "some-api/anything", "" })
        {
            using var response = await management.GetAsync(path, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Status_CatalogDown_ReportsNoRevisionNotReadyButAlive()
    {
        using var management = _edge.CreateManagementClient();
        var ct = TestContext.Current.CancellationToken;

        var status = JsonNode.Parse(await management.GetStringAsync("_veil/edge", ct))!;
        using var health = await management.GetAsync("health", ct);
        using var alive = await management.GetAsync("alive", ct);

        Assert.Null(status["revision"]);
        Assert.False(status["watchConnected"]!.GetValue<bool>());
        // Not ready without a route snapshot; alive all the same (liveness must not restart it).
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }
}
