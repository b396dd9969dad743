using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Veil.Edge.Auth;
using Veil.Edge.Entitlement;
using Veil.Catalog.Grpc;
using Veil.Identity.Grpc;
using Veil.ServiceDefaults.Security;
using Veil.Subscriptions.Grpc;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Real identity, catalog and subscriptions hosts (each with its own SQLite folder) wired to each
/// other, a real echo upstream, and three real edges in front of them:
/// <see cref="Edge"/> with the default 1 s caches, <see cref="LongCacheEdge"/> whose 10 s caches make
/// "no call while warm" deterministic (and show that pushed revocations do not wait for the TTL),
/// <see cref="IdentityDownEdge"/> whose identity is a dead port, and <see cref="StreamlessEdge"/>
/// which runs no change-stream watchers, so revocations reach it only through its 1 s TTL;
/// all of these allow private upstreams (the echo upstream is on loopback). <see cref="GuardedEdge"/>
/// keeps the SSRF guard on (started on first use). Every edge resolves names through
/// <see cref="Resolver"/>, where <see cref="LoopbackName"/> is a public-looking name for 127.0.0.1.
/// Started once per test class; every test makes its own accounts, APIs and keys.
/// </summary>
public class EdgeFixture : IAsyncLifetime
{
    private static readonly TimeSpan RouteWait = TimeSpan.FromSeconds(10);

    public ControlPlane ControlPlane { get; } = new();
    public ServiceHost<IdentityGrpcService> Identity => ControlPlane.Identity;
    public ServiceHost<CatalogGrpcService> Catalog => ControlPlane.Catalog;
    public ServiceHost<SubscriptionsGrpcService> Subscriptions => ControlPlane.Subscriptions;
    public ServiceHost<EdgeOptions> Edge { get; } = new();
    public ServiceHost<EdgeOptions> LongCacheEdge { get; } = new();
    public ServiceHost<EdgeOptions> IdentityDownEdge { get; } = new();
    public ServiceHost<EdgeOptions> StreamlessEdge { get; } = new EdgeWithoutChangeStreams();

    public ServiceHost<EdgeOptions> GuardedEdge { get; } = new();

    /// <summary>A name under a public top-level domain that <see cref="Resolver"/> answers with 127.0.0.1 (DNS rebinding, nip.io-style).</summary>
    public const string LoopbackName = "evil.example.com";

    public TableHostResolver Resolver { get; } = new(new Dictionary<string, IPAddress[]>
    {
        [LoopbackName] = [IPAddress.Loopback],
    });
    public EchoUpstream Upstream { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Upstream = await EchoUpstream.StartAsync(TestContext.Current.CancellationToken);
        ControlPlane.Start(ConfigureCatalog);

        // Traces as with an OTLP endpoint configured: the traceparent test needs the edge's span.
        ConfigureEdge(Wire(Edge).With("Veil:Telemetry:Tracing", "true")).Start();
        Wire(LongCacheEdge).With("Edge:AuthCacheTtl", "00:00:10").Start();
        Wire(IdentityDownEdge).With("services:identity:grpc:0", $"http://127.0.0.1:{FreePort.Next()}").Start();
        Wire(StreamlessEdge).Start();
        Wire(GuardedEdge, allowPrivateUpstreams: false);
    }

    /// <summary>A subclass's changes to the catalog host before it starts (e.g. its clock).</summary>
    protected virtual void ConfigureCatalog(ServiceHost<CatalogGrpcService> catalog)
    {
    }

    /// <summary>A subclass's changes to <see cref="Edge"/> before it starts (e.g. its settings).</summary>
    protected virtual ServiceHost<EdgeOptions> ConfigureEdge(ServiceHost<EdgeOptions> edge) => edge;

    /// <summary>Points <paramref name="edge"/> at this fixture's control plane (rate limiting off); the caller starts it.</summary>
    public ServiceHost<EdgeOptions> Wire(ServiceHost<EdgeOptions> edge, bool allowPrivateUpstreams = true) => ControlPlane.Wire(edge)
        .With("Edge:AllowPrivateUpstreams", allowPrivateUpstreams ? "true" : "false")
        .WithServices(services => services.AddSingleton<IHostResolver>(Resolver))
        // These tests are about routing, auth and transforms; rate limiting has its own tests and
        // would turn the bursts here into 429s.
        .With("Edge:RateLimiting:Enabled", "false");

    public async ValueTask DisposeAsync()
    {
        await StreamlessEdge.DisposeAsync();
        await GuardedEdge.DisposeAsync();
        await IdentityDownEdge.DisposeAsync();
        await LongCacheEdge.DisposeAsync();
        await Edge.DisposeAsync();
        await ControlPlane.DisposeAsync();
        await Upstream.DisposeAsync();
    }

    /// <summary>Counts <c>veil.edge.auth.calls</c> to <paramref name="service"/> made by one edge.</summary>
    public static MeterCounter AuthCalls(ServiceHost<EdgeOptions> edge, string service) =>
        new(edge.Services.GetRequiredService<IMeterFactory>(), "Veil.Edge", "veil.edge.auth.calls", "service", service);

    /// <summary>
    /// A provider publishes an API (through the edge's REST API) with one plan; returns once
    /// <paramref name="edges"/> (default: all four) route it.
    /// </summary>
    public async Task<PublishedApi> PublishApiAsync(Uri upstream, int timeoutMs = 5000, params ServiceHost<EdgeOptions>[] edges)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Edge.CreateRestClient();
        var provider = await SignUpAsync(http, "PROVIDER");
        var slug = "api-" + Guid.NewGuid().ToString("N")[..12];
        var api = await PostAsync(http, "v1/apis", provider.Token,
            new { slug, name = "Echo " + slug, upstreamUrl = upstream.ToString(), timeoutMs }, ct);
        var apiId = api["api"]!["id"]!.GetValue<string>();
        var plan = await PostAsync(http, "v1/plans", provider.Token,
            new { apiId, name = "Free", requestsPerSecond = 100, burst = 100 }, ct);
        var published = new PublishedApi(apiId, slug, plan["plan"]!["id"]!.GetValue<string>(), provider);
        foreach (var edge in edges.Length > 0 ? edges : [Edge, LongCacheEdge, IdentityDownEdge, StreamlessEdge])
        {
            await WaitRoutedAsync(edge, slug, RouteWait);
        }
        return published;
    }

    /// <summary>Waits until <paramref name="edge"/> routes <paramref name="slug"/> (answers anything but 404).</summary>
    public static async Task WaitRoutedAsync(ServiceHost<EdgeOptions> edge, string slug, TimeSpan bound)
    {
        using var http = edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await http.GetAsync($"{slug}/", ct);
            return response.StatusCode != HttpStatusCode.NotFound;
        }, bound, $"the edge routes /{slug}/");
    }

    /// <summary>A consumer signs up, subscribes to <paramref name="planId"/> (unless null) and creates a key.</summary>
    public async Task<Consumer> ConsumerAsync(string? planId)
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = Edge.CreateRestClient();
        var account = await SignUpAsync(http, "CONSUMER");
        string? subscriptionId = null;
        if (planId is not null)
        {
            var subscription = await PostAsync(http, "v1/subscriptions", account.Token, new { planId }, ct);
            subscriptionId = subscription["subscription"]!["id"]!.GetValue<string>();
        }
        var key = await PostAsync(http, "v1/keys", account.Token, new { name = "test" }, ct);
        return new Consumer(account, subscriptionId, key["apiKey"]!["id"]!.GetValue<string>(), key["key"]!.GetValue<string>());
    }

    public async Task RevokeKeyAsync(Consumer consumer)
    {
        using var http = Edge.CreateRestClient();
        await PostAsync(http, $"v1/keys/{consumer.KeyId}:revoke", consumer.Account.Token, new { }, TestContext.Current.CancellationToken);
    }

    /// <summary>Another key for the consumer's account.</summary>
    public async Task<Consumer> NewKeyAsync(Consumer consumer)
    {
        using var http = Edge.CreateRestClient();
        var key = await PostAsync(http, "v1/keys", consumer.Account.Token, new { name = "test" }, TestContext.Current.CancellationToken);
        return consumer with { KeyId = key["apiKey"]!["id"]!.GetValue<string>(), Key = key["key"]!.GetValue<string>() };
    }

    /// <summary>The consumer subscribes to <paramref name="planId"/>; returns the subscription id.</summary>
    public async Task<string> SubscribeAsync(Account consumer, string planId)
    {
        using var http = Edge.CreateRestClient();
        var subscription = await PostAsync(http, "v1/subscriptions", consumer.Token, new { planId }, TestContext.Current.CancellationToken);
        return subscription["subscription"]!["id"]!.GetValue<string>();
    }

    public async Task CancelAsync(Account consumer, string subscriptionId)
    {
        using var http = Edge.CreateRestClient();
        await PostAsync(http, $"v1/subscriptions/{subscriptionId}:cancel", consumer.Token, new { }, TestContext.Current.CancellationToken);
    }

    private static async Task<Account> SignUpAsync(HttpClient http, string role)
    {
        var email = $"{role[5..].ToLowerInvariant()}-{Guid.NewGuid():N}@example.com";
        var response = await PostAsync(http, "v1/auth/signup", null,
            new { email, password = "correct-horse-battery-staple", role }, TestContext.Current.CancellationToken);
        return new Account(response["account"]!["id"]!.GetValue<string>(), response["session"]!["accessToken"]!.GetValue<string>());
    }

    public static async Task<JsonObject> PostAsync(HttpClient http, string path, string? token, object body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"POST {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>
    /// Calls <paramref name="pathAndQuery"/> of <paramref name="api"/> (the echo upstream) as
    /// <paramref name="consumer"/> until a 200's echoed request satisfies <paramref name="applied"/>
    /// (the edge has applied the API's newest config), within <paramref name="bound"/>.
    /// </summary>
    public async Task<(JsonNode Body, HttpResponseMessage Response)> EventuallyEchoAsync(PublishedApi api, Consumer consumer, string pathAndQuery,
        Func<JsonNode, bool> applied, TimeSpan bound, string what, Action<HttpRequestMessage>? configure, CancellationToken ct)
    {
        using var http = Edge.CreateRestClient();
        (JsonNode Body, HttpResponseMessage Response)? last = null;
        await Eventually.HoldsAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, api.Slug + pathAndQuery);
            request.Headers.Add("X-Api-Key", consumer.Key);
            configure?.Invoke(request);
            var response = await http.SendAsync(request, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }
            var body = JsonNode.Parse(text)!;
            last = (body, response);
            return applied(body);
        }, bound, what);
        return last!.Value;
    }

    public static async Task<JsonObject> GetAsync(HttpClient http, string path, string token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"GET {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }
}

public sealed record Account(string Id, string Token);

public sealed record PublishedApi(string ApiId, string Slug, string PlanId, Account Provider);

public sealed record Consumer(Account Account, string? SubscriptionId, string KeyId, string Key);

/// <summary>An edge whose key and subscription change watchers never run: its caches' TTL is all it has.</summary>
public sealed class EdgeWithoutChangeStreams : ServiceHost<EdgeOptions>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
        {
            foreach (var watcher in services.Where(d => d.ServiceType == typeof(IHostedService) &&
                d.ImplementationType is { } type && (type == typeof(KeyChangeWatcher) || type == typeof(SubscriptionChangeWatcher))).ToList())
            {
                services.Remove(watcher);
            }
        });
    }
}
