using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Veil.Fleet.Tests;

/// <summary>
/// The README's quickstart, as a user drives it: every call goes to the edge over HTTP, against
/// the real processes started by the AppHost.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class QuickstartJourneyTests(FleetFixture fleet)
{
    [Fact]
    public async Task Quickstart_ProviderPublishesConsumerCalls_UpstreamAnswersThroughEdge()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = fleet.CreateEdgeClient();
        var suffix = Guid.NewGuid().ToString("N")[..8];

        // Provider signs up, publishes the sample API and defines a plan.
        var provider = await PostAsync(http, "v1/auth/signup", null,
            new { email = $"ada-{suffix}@weather.example", password = "correct-horse-battery", role = "PROVIDER" }, ct);
        var providerToken = provider["session"]!["accessToken"]!.GetValue<string>();

        var slug = $"weather-{suffix}";
        var api = await PostAsync(http, "v1/apis", providerToken,
            new { slug, name = "Veil Weather", description = "Forecasts for any city", upstreamUrl = fleet.UpstreamUrl.ToString(), timeoutMs = 5000 }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();

        var plan = await PostAsync(http, "v1/plans", providerToken,
            new { apiId, name = "Free", requestsPerSecond = 10, burst = 20, monthlyQuota = 10000, pricePerCallMinor = 0 }, ct);
        var planId = plan["plan"]!["id"]!.GetValue<string>();

        // Consumer signs up, browses, subscribes and creates a key.
        var consumer = await PostAsync(http, "v1/auth/signup", null,
            new { email = $"grace-{suffix}@example.com", password = "another-long-password", role = "CONSUMER" }, ct);
        var consumerToken = consumer["session"]!["accessToken"]!.GetValue<string>();

        var listing = await http.GetFromJsonAsync<JsonObject>($"v1/apis?query={slug}", ct);
        Assert.Contains(listing!["apis"]!.AsArray(), a => a!["id"]!.GetValue<string>() == apiId);

        var subscription = await PostAsync(http, "v1/subscriptions", consumerToken, new { planId }, ct);
        Assert.Equal("ACTIVE", subscription["subscription"]!["status"]!.GetValue<string>());

        var key = await PostAsync(http, "v1/keys", consumerToken, new { name = "laptop" }, ct);
        var apiKey = key["key"]!.GetValue<string>();
        Assert.StartsWith("veil_live_", apiKey);

        // The call through the edge reaches the upstream and comes back.
        using var call = new HttpRequestMessage(HttpMethod.Get, $"{slug}/forecast?city=Lisbon");
        call.Headers.Add("X-Api-Key", apiKey);
        using var response = await http.SendAsync(call, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("Lisbon", JsonNode.Parse(body)!["city"]!.GetValue<string>());

        // The call is metered: the edge spools it, ships it to usage, and the consumer's quota shows it.
        var subscriptionId = subscription["subscription"]!["id"]!.GetValue<string>();
        string? used = null;
        await Veil.Testing.Eventually.HoldsAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/usage/quota/{subscriptionId}");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", consumerToken);
            using var quota = await http.SendAsync(request, ct);
            var text = await quota.Content.ReadAsStringAsync(ct);
            used = quota.IsSuccessStatusCode ? JsonNode.Parse(text)!["status"]?["used"]?.ToString() : text;
            return used == "1";
        }, TimeSpan.FromSeconds(60), "the one billable call reaches the consumer's quota status");
        Assert.Equal("1", used);

        // Without the key the edge answers 401 as a problem.
        using var anonymous = await http.GetAsync($"{slug}/forecast", ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ApiReference_MergedDocumentCoversEveryService_PageServed()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = fleet.CreateEdgeClient();
        string[] expected = ["/v1/auth/signup", "/v1/apis", "/v1/plans", "/v1/usage", "/v1/invoices"];

        // A service not ready at the first fetch is named in x-veil-unavailable until the merge is redone (30 s).
        JsonObject? document = null;
        await Veil.Testing.Eventually.HoldsAsync(async () =>
        {
            document = JsonNode.Parse(await http.GetStringAsync("openapi/veil.json", ct))!.AsObject();
            return document["x-veil-unavailable"] is null;
        }, TimeSpan.FromSeconds(90), "every service's document is in the merged one");
        using var page = await http.GetAsync("docs/index.html", ct);

        var paths = document!["paths"]!.AsObject().Select(p => p.Key).ToHashSet();
        Assert.All(expected, path => Assert.Contains(path, paths));
        Assert.NotNull(document["components"]!["securitySchemes"]!["bearer"]);
        Assert.NotNull(document["components"]!["schemas"]!["Problem"]);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    private static async Task<JsonObject> PostAsync(HttpClient http, string path, string? token, object body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"POST {path} → {(int)response.StatusCode}: {text}");
        return JsonSerializer.Deserialize<JsonObject>(text)!;
    }
}
