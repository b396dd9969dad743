using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Veil.Catalog.Grpc;
using Veil.Identity.Grpc;
using Veil.Subscriptions.Grpc;
using Veil.Testing;
using Veil.Usage.Grpc;

namespace Veil.Edge.Tests;

/// <summary>
/// The API lifecycle seen through a real edge (docs/catalog.md, "Lifecycle"; docs/edge.md): real
/// identity, catalog, subscriptions and usage hosts and one edge, all but identity on one
/// <see cref="ClockAt"/> that starts at a chosen date and can jump past a sunset.
/// </summary>
public sealed class LifecycleFixture : IAsyncLifetime
{
    public ClockAt Clock { get; } = new(HardDates.Ordinary);
    public ControlPlane ControlPlane { get; } = new();
    public ServiceHost<UsageGrpcService> Usage { get; } = new();
    public ServiceHost<EdgeOptions> Edge { get; } = new();
    public EchoUpstream Upstream { get; private set; } = null!;
    public WebhookReceiver Webhooks { get; private set; } = null!;
    private GrpcChannel _usageChannel = null!;

    public async ValueTask InitializeAsync()
    {
        Upstream = await EchoUpstream.StartAsync(TestContext.Current.CancellationToken);
        // The clock jumps past sunsets: the worker looks often rather than only at the sunset its timer waits for.
        ControlPlane.Subscriptions.WithServices(s => s.AddSingleton<TimeProvider>(Clock)).With("Subscriptions:SunsetCheckInterval", "00:00:00.200")
            // Deprecation notices go to the subscribers' webhooks through usage.
            .With("services:usage:grpc:0", Usage.GrpcUrl.ToString());
        Webhooks = await WebhookReceiver.StartAsync(TestContext.Current.CancellationToken);
        ControlPlane.Start(catalog => catalog.WithServices(s => s.AddSingleton<TimeProvider>(Clock)));
        Usage.With("Veil:Auth:Authority", ControlPlane.Authority).With("services:identity:http:0", ControlPlane.Authority)
            .With("Usage:AllowPrivateWebhooks", "true")
            .WithServices(s => s.AddSingleton<TimeProvider>(Clock)).Start();
        foreach (var (key, value) in ControlPlane.Endpoints())
        {
            Edge.With(key, value);
        }
        Edge.With("services:usage:grpc:0", Usage.GrpcUrl.ToString())
            .With("Edge:Usage:ShipBackoffMax", "00:00:00.500")
            .With("Edge:RateLimiting:Enabled", "false")
            .With("Edge:AllowPrivateUpstreams", "true")
            .WithServices(s => s.AddSingleton<TimeProvider>(Clock))
            .Start();
        _usageChannel = Usage.CreateGrpcChannel();
    }

    /// <summary>Billable and total calls usage counted for the subscription.</summary>
    public Task<(long Billable, long Total)> CountsAsync(string subscriptionId) => UsageFixture.CycleCountsAsync(_usageChannel, subscriptionId);

    public async ValueTask DisposeAsync()
    {
        _usageChannel.Dispose();
        await Edge.DisposeAsync();
        await Usage.DisposeAsync();
        await ControlPlane.DisposeAsync();
        await Upstream.DisposeAsync();
        await Webhooks.DisposeAsync();
    }
}

/// <summary>A real webhook endpoint on Kestrel: keeps the JSON body of every POST, answers 204.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly Microsoft.AspNetCore.Builder.WebApplication _app;

    private WebhookReceiver(Microsoft.AspNetCore.Builder.WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>Every body received, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<JsonObject> Received { get; } = new();

    public static async Task<WebhookReceiver> StartAsync(CancellationToken cancellationToken)
    {
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/hooks");
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        var app = builder.Build();
        app.Urls.Add(url.GetLeftPart(UriPartial.Authority));
        var receiver = new WebhookReceiver(app, url);
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapPost(app, "/hooks", async (Microsoft.AspNetCore.Http.HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            receiver.Received.Enqueue(JsonNode.Parse(await reader.ReadToEndAsync(context.RequestAborted))!.AsObject());
            return Microsoft.AspNetCore.Http.Results.NoContent();
        });
        await app.StartAsync(cancellationToken);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed class LifecycleThroughEdgeTests(LifecycleFixture fixture) : IClassFixture<LifecycleFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Suspend_CallsGet503ProblemWithoutUpstreamOrUsage_SubscriptionKept_ResumeServesAgain()
    {
        var (api, consumer) = await PublishAndSubscribeAsync();
        using var http = fixture.Edge.CreateRestClient();
        await ExpectStatusAsync(http, api, consumer, HttpStatusCode.OK, "served before the suspension");
        var before = await SettledCountsAsync(consumer.SubscriptionId!, 1);

        await PostAsync($"v1/apis/{api.ApiId}:suspend", api.Provider.Token, new { });
        using var refused = await ExpectStatusAsync(http, api, consumer, HttpStatusCode.ServiceUnavailable, "the edge applies the suspension");
        var upstreamCalls = fixture.Upstream.Paths.Count;
        for (var i = 0; i < 5; i++)
        {
            using var again = await CallAsync(http, api, consumer);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);
        }

        var problem = await Expect.ProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
        Assert.EndsWith("/api-suspended", problem.GetProperty("type").GetString());
        Assert.Contains("suspended", problem.GetProperty("title").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("provider has suspended it", problem.GetProperty("detail").GetString());
        Assert.Equal(upstreamCalls, fixture.Upstream.Paths.Count);
        var subscription = await GetAsync($"v1/subscriptions/{consumer.SubscriptionId}", consumer.Account.Token);
        Assert.Null(subscription["subscription"]!["cancelTime"]);

        await PostAsync($"v1/apis/{api.ApiId}:resume", api.Provider.Token, new { });
        await ExpectStatusAsync(http, api, consumer, HttpStatusCode.OK, "served again after the resumption");
        // Usage counted the two 200s and none of the 503s (they never became calls).
        var after = await SettledCountsAsync(consumer.SubscriptionId!, before.Total + 1);
        Assert.Equal((before.Billable + 1, before.Total + 1), after);
    }

    [Fact]
    public async Task Deprecate_ProxiedResponsesCarryDeprecationSunsetAndLink()
    {
        var (api, consumer) = await PublishAndSubscribeAsync();
        using var http = fixture.Edge.CreateRestClient();
        using (var plain = await ExpectStatusAsync(http, api, consumer, HttpStatusCode.OK, "served"))
        {
            Assert.False(plain.Headers.Contains("Deprecation"));
        }
        var sunset = TruncateToSeconds(fixture.Clock.GetUtcNow().AddDays(60));

        var deprecated = await PostAsync($"v1/apis/{api.ApiId}:deprecate", api.Provider.Token,
            new { sunsetTime = sunset.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), link = "https://docs.example.com/echo/deprecation" });
        var deprecatedAt = DateTimeOffset.Parse(deprecated["api"]!["deprecateTime"]!.GetValue<string>(), CultureInfo.InvariantCulture);

        using var response = await EventuallyAsync(http, api, consumer, r => r.StatusCode == HttpStatusCode.OK && r.Headers.Contains("Deprecation"),
            "the edge applies the deprecation");
        Assert.Equal("@" + deprecatedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues("Deprecation")));
        Assert.Equal(sunset.ToString("R", CultureInfo.InvariantCulture), Assert.Single(response.Headers.GetValues("Sunset")));
        Assert.Contains("<https://docs.example.com/echo/deprecation>; rel=\"deprecation\"", response.Headers.GetValues("Link"));
        // The upstream answered: the call went through.
        var echoed = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("/metered", echoed["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task Delete_RefusesNewSubscriptionsAtOnce_ServesUntilTheSunset_Then410_AndCancelsAtTheSunset()
    {
        var (api, consumer) = await PublishAndSubscribeAsync();
        using var http = fixture.Edge.CreateRestClient();
        await ExpectStatusAsync(http, api, consumer, HttpStatusCode.OK, "served");
        var sunset = TruncateToSeconds(fixture.Clock.GetUtcNow().AddDays(3));

        using (var client = fixture.Edge.CreateRestClient())
        {
            using var delete = new HttpRequestMessage(HttpMethod.Delete,
                $"v1/apis/{api.ApiId}?sunsetTime={Uri.EscapeDataString(sunset.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))}");
            delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
            using var deleted = await client.SendAsync(delete, Ct);
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        // At once: the very next subscription is refused with 409 and a clear message.
        Account newcomer;
        using (var client = fixture.Edge.CreateRestClient())
        {
            newcomer = await UsageFixture.SignUpAsync(client, "ROLE_CONSUMER");
        }
        using (var subscribe = await SendAsync(HttpMethod.Post, "v1/subscriptions", newcomer.Token, new { planId = api.PlanId }))
        {
            var problem = await Expect.ProblemAsync(subscribe, HttpStatusCode.Conflict);
            Assert.Contains("deleted by its provider", problem.GetProperty("detail").GetString());
        }

        // Until the sunset calls pass, with the headers.
        using (var retiring = await EventuallyAsync(http, api, consumer, r => r.StatusCode == HttpStatusCode.OK && r.Headers.Contains("Sunset"), "the edge applies the deletion"))
        {
            Assert.Equal(sunset.ToString("R", CultureInfo.InvariantCulture), Assert.Single(retiring.Headers.GetValues("Sunset")));
        }
        var served = await SettledCountsAsync(consumer.SubscriptionId!, 2);

        // Past the sunset (every host's clock jumps): 410, decided by the edge's own clock.
        fixture.Clock.Advance(sunset - fixture.Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        var upstreamCalls = fixture.Upstream.Paths.Count;
        using (var gone = await CallAsync(http, api, consumer))
        {
            var problem = await Expect.ProblemAsync(gone, HttpStatusCode.Gone);
            Assert.EndsWith("/api-retired", problem.GetProperty("type").GetString());
        }
        Assert.Equal(upstreamCalls, fixture.Upstream.Paths.Count);

        // The subscription ends at the sunset, as billing will invoice it.
        await Eventually.HoldsAsync(async () =>
            (await GetAsync($"v1/subscriptions/{consumer.SubscriptionId}", consumer.Account.Token))["subscription"]!["cancelTime"] is not null,
            Bound, "the subscription is cancelled at the sunset");
        var subscription = (await GetAsync($"v1/subscriptions/{consumer.SubscriptionId}", consumer.Account.Token))["subscription"]!;
        Assert.Equal(sunset, DateTimeOffset.Parse(subscription["cancelTime"]!.GetValue<string>(), CultureInfo.InvariantCulture));

        // Nothing lost: usage still answers with the calls made before (and not the 410), the owner still reads the API.
        Assert.Equal(served, await fixture.CountsAsync(consumer.SubscriptionId!));
        var own = await GetAsync($"v1/apis/{api.ApiId}", api.Provider.Token);
        Assert.Contains(own["api"]!["state"]!.GetValue<string>(), new[] { "API_STATE_RETIRED", "RETIRED" });
    }

    [Fact]
    public async Task Deprecate_ThenDelete_SubscribersGetOneApiDeprecatedAndOneApiRetiringWebhook()
    {
        var (api, consumer) = await PublishAndSubscribeAsync();
        using (var usage = fixture.Usage.CreateRestClient())
        {
            using var set = new HttpRequestMessage(HttpMethod.Put, "v1/usage/webhook")
            {
                Content = JsonContent.Create(new { url = fixture.Webhooks.Url.ToString(), secret = "whsec_" + Convert.ToBase64String(new byte[32]) }),
            };
            set.Headers.Authorization = new AuthenticationHeaderValue("Bearer", consumer.Account.Token);
            using var response = await usage.SendAsync(set, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var sunset = TruncateToSeconds(fixture.Clock.GetUtcNow().AddDays(30));
        var sunsetText = sunset.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

        await PostAsync($"v1/apis/{api.ApiId}:deprecate", api.Provider.Token, new { sunsetTime = sunsetText, link = "https://docs.example.com/echo/v2" });
        // Deprecating again (a new link) is a new lifecycle, but the same notice: not sent twice.
        await PostAsync($"v1/apis/{api.ApiId}:deprecate", api.Provider.Token, new { link = "https://docs.example.com/echo/v3" });
        using (var client = fixture.Edge.CreateRestClient())
        {
            using var delete = new HttpRequestMessage(HttpMethod.Delete, $"v1/apis/{api.ApiId}");
            delete.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
            using var deleted = await client.SendAsync(delete, Ct);
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        JsonObject[] Mine() => fixture.Webhooks.Received.Where(b => (string?)b["subscriptionId"] == consumer.SubscriptionId).ToArray();
        await Eventually.HoldsAsync(() => Task.FromResult(Mine().Any(b => (string?)b["type"] == "api.retiring")), TimeSpan.FromSeconds(30),
            "the api.retiring notice is delivered");
        var deprecated = Assert.Single(Mine(), b => (string?)b["type"] == "api.deprecated");
        Assert.Equal((api.ApiId, consumer.Account.Id, sunsetText[..19]), ((string?)deprecated["apiId"], (string?)deprecated["consumerId"], ((string?)deprecated["sunsetTime"])?[..19]));
        // The link as of the pass that sent it (the second deprecation may land before that pass).
        Assert.Contains((string?)deprecated["link"], new[] { "https://docs.example.com/echo/v2", "https://docs.example.com/echo/v3" });
        var retiring = Assert.Single(Mine(), b => (string?)b["type"] == "api.retiring");
        Assert.Equal(sunsetText[..19], ((string?)retiring["sunsetTime"])?[..19]);
    }

    private async Task<(PublishedApi Api, Consumer Consumer)> PublishAndSubscribeAsync()
    {
        var api = await UsageFixture.PublishApiAsync(fixture.Edge, fixture.Upstream.Url, pricePerCallMinor: 1);
        var consumer = await UsageFixture.ConsumerAsync(fixture.Edge, api.PlanId);
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, consumer.Key, Bound);
        return (api, consumer);
    }

    /// <summary>Waits until usage has counted at least <paramref name="total"/> calls for the subscription; returns the counts.</summary>
    private async Task<(long Billable, long Total)> SettledCountsAsync(string subscriptionId, long total)
    {
        (long, long) counts = default;
        await Eventually.HoldsAsync(async () => (counts = await fixture.CountsAsync(subscriptionId)).Item2 >= total, Bound, "usage counts the calls");
        return counts;
    }

    private static DateTimeOffset TruncateToSeconds(DateTimeOffset time) => DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());

    private static Task<HttpResponseMessage> CallAsync(HttpClient http, PublishedApi api, Consumer consumer) =>
        http.SendAsync(UsageFixture.Get(api.Slug, consumer.Key), Ct);

    private static Task<HttpResponseMessage> ExpectStatusAsync(HttpClient http, PublishedApi api, Consumer consumer, HttpStatusCode status, string what) =>
        EventuallyAsync(http, api, consumer, r => r.StatusCode == status, what);

    /// <summary>Calls until a response satisfies <paramref name="condition"/>; returns it (the caller disposes it).</summary>
    private static async Task<HttpResponseMessage> EventuallyAsync(HttpClient http, PublishedApi api, Consumer consumer, Func<HttpResponseMessage, bool> condition, string what)
    {
        HttpResponseMessage? last = null;
        await Eventually.HoldsAsync(async () =>
        {
            last?.Dispose();
            last = await CallAsync(http, api, consumer);
            await last.Content.LoadIntoBufferAsync(Ct);
            return condition(last);
        }, Bound, what);
        return last!;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string token, object? body)
    {
        using var http = fixture.Edge.CreateRestClient();
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        var response = await http.SendAsync(request, Ct);
        await response.Content.LoadIntoBufferAsync(Ct);
        return response;
    }

    private async Task<JsonObject> PostAsync(string path, string token, object body)
    {
        using var http = fixture.Edge.CreateRestClient();
        return await EdgeFixture.PostAsync(http, path, token, body, Ct);
    }

    private async Task<JsonObject> GetAsync(string path, string token)
    {
        using var http = fixture.Edge.CreateRestClient();
        return await EdgeFixture.GetAsync(http, path, token, Ct);
    }
}
