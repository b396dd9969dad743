using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Real identity, catalog and subscriptions (<see cref="ControlPlane"/>) and two real edges:
/// <see cref="Edge"/> allowing loopback upstreams, <see cref="GuardedEdge"/> with the SSRF guard
/// on. Tests start their own <see cref="HealthTarget"/>s and publish APIs with targets and health
/// checks through the edge's REST API.
/// </summary>
public sealed class UpstreamsFixture : IAsyncLifetime
{
    public ControlPlane ControlPlane { get; } = new();
    public ServiceHost<EdgeOptions> Edge { get; } = new();
    public ServiceHost<EdgeOptions> GuardedEdge { get; } = new();

    public ValueTask InitializeAsync()
    {
        ControlPlane.Start();
        Wire(Edge, allowPrivateUpstreams: true).Start();
        Wire(GuardedEdge, allowPrivateUpstreams: false).Start();
        return ValueTask.CompletedTask;
    }

    private ServiceHost<EdgeOptions> Wire(ServiceHost<EdgeOptions> edge, bool allowPrivateUpstreams) => ControlPlane.Wire(edge)
        .With("Edge:AllowPrivateUpstreams", allowPrivateUpstreams ? "true" : "false")
        .With("Edge:RateLimiting:Enabled", "false");

    public async ValueTask DisposeAsync()
    {
        await GuardedEdge.DisposeAsync();
        await Edge.DisposeAsync();
        await ControlPlane.DisposeAsync();
    }

    /// <summary>
    /// A new provider publishes an API with <paramref name="policies"/> (the REST JSON of ApiPolicies)
    /// and a plan; a new consumer subscribes and gets a key. Returns once <paramref name="edge"/> routes it.
    /// </summary>
    public async Task<(PublishedApi Api, Consumer Consumer)> PublishAsync(object policies, ServiceHost<EdgeOptions>? edge = null)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Edge.CreateRestClient();
        var provider = await SignUpAsync(http, "PROVIDER");
        var slug = "lb-" + Guid.NewGuid().ToString("N")[..12];
        var api = await EdgeFixture.PostAsync(http, "v1/apis", provider.Token, new { slug, name = "Targets " + slug, timeoutMs = 5000, policies }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await EdgeFixture.PostAsync(http, "v1/plans", provider.Token, new { apiId, name = "Free", requestsPerSecond = 1000, burst = 1000 }, ct);
        var planId = plan["plan"]!["id"]!.GetValue<string>();
        var consumer = await SignUpAsync(http, "CONSUMER");
        var subscription = await EdgeFixture.PostAsync(http, "v1/subscriptions", consumer.Token, new { planId }, ct);
        var key = await EdgeFixture.PostAsync(http, "v1/keys", consumer.Token, new { name = "test" }, ct);
        await EdgeFixture.WaitRoutedAsync(edge ?? Edge, slug, TimeSpan.FromSeconds(10));
        return (new PublishedApi(apiId, slug, planId, provider),
            new Consumer(consumer, subscription["subscription"]!["id"]!.GetValue<string>(), key["apiKey"]!["id"]!.GetValue<string>(), key["key"]!.GetValue<string>()));
    }

    public async Task<Account> SignUpAsync(HttpClient http, string role)
    {
        var email = $"{role[5..].ToLowerInvariant()}-{Guid.NewGuid():N}@example.com";
        var response = await EdgeFixture.PostAsync(http, "v1/auth/signup", null,
            new { email, password = "correct-horse-battery-staple", role }, TestContext.Current.CancellationToken);
        return new Account(response["account"]!["id"]!.GetValue<string>(), response["session"]!["accessToken"]!.GetValue<string>());
    }

    /// <summary>GET /v1/apis/{api_id}/health on <paramref name="edge"/> as <paramref name="token"/>: status and body.</summary>
    public static async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> HealthAsync(
        ServiceHost<EdgeOptions> edge, string apiId, string? token)
    {
        using var http = edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/apis/{apiId}/health");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, text.Length > 0 ? JsonNode.Parse(text) : null, response);
    }

    /// <summary>The target <paramref name="id"/> in a health body.</summary>
    public static JsonNode Target(JsonNode health, string id) =>
        health["targets"]!.AsArray().Single(t => t!["id"]!.GetValue<string>() == id)!;
}
