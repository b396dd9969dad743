using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Veil.Edge.Tests;

/// <summary>
/// The management API's reference at the edge (docs/edge.md, "API reference"): one merged OpenAPI
/// document and the /docs page; and REST conventions that must survive the edge's proxying.
/// </summary>
public sealed class ApiReferenceTests(UsageFixture fixture) : IClassFixture<UsageFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MergedDocument_HasEveryAnsweringServicesPathsBearerSchemeAndProblemSchema()
    {
        using var http = fixture.Edge.CreateRestClient();

        using var response = await http.GetAsync("openapi/veil.json", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject();
        var paths = document["paths"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Contains("/v1/auth/signup", paths);          // identity
        Assert.Contains("/v1/apis", paths);                 // catalog
        Assert.Contains("/v1/plans", paths);                // subscriptions
        Assert.Contains("/v1/usage", paths);                // usage
        // This fixture runs no billing: named as missing rather than failing the whole document.
        Assert.Equal(["billing"], document["x-veil-unavailable"]!.AsArray().Select(s => (string?)s));
        var bearer = document["components"]!["securitySchemes"]!["bearer"]!;
        Assert.Equal(("http", "bearer"), ((string?)bearer["type"], (string?)bearer["scheme"]));
        var problem = document["components"]!["schemas"]!["Problem"]!;
        Assert.NotNull(problem["properties"]!["errors"]);
        // Error responses point at the problem schema; proto comments are the descriptions.
        var createApi = document["paths"]!["/v1/apis"]!["post"]!;
        Assert.Equal("#/components/schemas/Problem",
            (string?)createApi["responses"]!["default"]!["content"]!["application/problem+json"]!["schema"]!["$ref"]);
        Assert.Contains("Idempotency-Key", createApi["parameters"]!.AsArray().Select(p => (string?)p!["name"]));
        Assert.False(string.IsNullOrWhiteSpace((string?)createApi["summary"] ?? (string?)createApi["description"]));
    }

    [Fact]
    public async Task ReferencePage_ServedFromTheEdgeWithAStrictPolicy()
    {
        using var http = fixture.Edge.CreateRestClient();

        using var page = await http.GetAsync("docs/index.html", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        using var script = await http.GetAsync("docs/index.js", Ct);
        var js = await script.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("swagger-ui", html, StringComparison.Ordinal);
        // Every script and style is the edge's own: no CDN, nothing inline.
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        var policy = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Contains("/openapi/veil.json", js, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdempotencyKey_ThroughTheEdge_SecondPostReplaysTheFirstKey()
    {
        using var http = fixture.Edge.CreateRestClient();
        using var signUp = await http.PostAsJsonAsync("v1/auth/signup",
            new { email = $"edge-{Guid.NewGuid():N}@example.test", password = "a-long-enough-password", role = "CONSUMER" }, Ct);
        var token = (string?)JsonNode.Parse(await signUp.Content.ReadAsStringAsync(Ct))!["session"]!["accessToken"];
        var idempotencyKey = Guid.NewGuid().ToString();

        async Task<HttpResponseMessage> CreateKeyAsync()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "v1/keys") { Content = JsonContent.Create(new { name = "laptop" }) };
            request.Headers.Authorization = new("Bearer", token);
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return await http.SendAsync(request, Ct);
        }
        using var first = await CreateKeyAsync();
        using var retry = await CreateKeyAsync();

        Assert.Equal(HttpStatusCode.Created, signUp.StatusCode);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(await first.Content.ReadAsStringAsync(Ct), await retry.Content.ReadAsStringAsync(Ct));
    }
}
