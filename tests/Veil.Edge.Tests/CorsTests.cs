using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Veil.Edge.Calls;
using Veil.Edge.Cors;
using Veil.Testing;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Tests;

/// <summary>
/// Notes every API call the call step hands to metering, as "METHOD path": what would become a
/// usage event.
/// </summary>
internal sealed class CallRecorder : IApiCallRecorder
{
    public ConcurrentQueue<string> Calls { get; } = new();

    public IApiCallRecorder.Started Start(HttpContext context) => default;

    public void Record(HttpContext context, ApiRoute route, ApiCallFeature call, IForwarderErrorFeature? error, in IApiCallRecorder.Started started, bool failed) =>
        Calls.Enqueue($"{context.Request.Method} {context.Request.Path}");
}

/// <summary><see cref="EdgeFixture"/> whose <see cref="EdgeFixture.Edge"/> has management CORS on for <see cref="PortalOrigin"/> and records the calls it meters.</summary>
public sealed class CorsFixture : EdgeFixture
{
    public const string PortalOrigin = "https://portal.example.com";

    internal CallRecorder Recorder { get; } = new();

    protected override ServiceHost<EdgeOptions> ConfigureEdge(ServiceHost<EdgeOptions> edge) => edge
        .With("Edge:ManagementCors:AllowedOrigins:0", PortalOrigin)
        .With("Edge:ManagementCors:AllowedOrigins:1", "http://localhost:5173")
        .With("Edge:ManagementCors:ExposedHeaders:0", "X-Request-Id")
        .WithServices(services => services.AddSingleton<IApiCallRecorder>(Recorder));
}

/// <summary>
/// CORS at the edge (docs/cors.md) through real catalog, identity, subscriptions, a real edge and the
/// echo upstream: preflights answered by the edge (no key, no upstream, no usage event), CORS
/// headers on calls from allowed origins (on the edge's own 401 too), patterns matching one label,
/// and the management API's policy from <c>Edge:ManagementCors</c>.
/// </summary>
public sealed class CorsTests(CorsFixture fleet) : IClassFixture<CorsFixture>
{
    private const string AppOrigin = "https://app.example.com";
    private const string AllowOrigin = "Access-Control-Allow-Origin";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Preflight_AnsweredByTheEdge_WithoutKey_UpstreamUntouched_NoUsageEvent()
    {
        var api = await CorsApiAsync();
        using var http = fleet.Edge.CreateRestClient();
        var rest = $"/preflight-{Guid.NewGuid():N}";
        var path = "/" + api.Slug + rest;

        using var allowed = await http.SendAsync(Preflight(path, AppOrigin, "POST", "content-type, x-api-key"), Ct);

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Equal(AppOrigin, Header(allowed, AllowOrigin));
        Assert.Equal("600", Header(allowed, "Access-Control-Max-Age"));
        Assert.Equal(["GET", "POST"], List(allowed, "Access-Control-Allow-Methods"));
        Assert.Equal(["Authorization", "Content-Type", "X-Api-Key"], List(allowed, "Access-Control-Allow-Headers"));
        Assert.Null(Header(allowed, "Access-Control-Allow-Credentials"));
        Assert.Contains("Origin", allowed.Headers.Vary);

        // An origin the policy does not allow: still answered by the edge, without any CORS header.
        using var refused = await http.SendAsync(Preflight(path, "https://evil.example.net", "POST", null), Ct);
        Assert.Equal(HttpStatusCode.NoContent, refused.StatusCode);
        Assert.Null(Header(refused, AllowOrigin));
        Assert.Null(Header(refused, "Access-Control-Allow-Methods"));

        // Not forwarded: the upstream never saw the path. Not a call: the one real call below is the
        // only one metered for it.
        Assert.DoesNotContain(rest, fleet.Upstream.Paths);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var call = await http.SendAsync(Get(path, AppOrigin, consumer.Key), Ct);
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Contains(rest, fleet.Upstream.Paths);
        await Eventually.HoldsAsync(() => Task.FromResult(fleet.Recorder.Calls.Contains("GET " + path)), Bound, "the call is metered");
        Assert.DoesNotContain("OPTIONS " + path, fleet.Recorder.Calls);
    }

    [Theory]
    [InlineData("https://api.example.org", true)]
    [InlineData("https://API.example.org", true)]
    [InlineData("https://evil-example.org", false)]
    [InlineData("https://a.b.example.org", false)]
    [InlineData("https://example.org", false)]
    [InlineData("http://api.example.org", false)]
    [InlineData("https://api.example.org:8443", false)]
    [InlineData("https://api.example.org.evil.net", false)]
    [InlineData("https://app.example.com.evil.net", false)]
    [InlineData("null", false)]
    public async Task Pattern_MatchesOneSubdomainLabel_NotALookAlike(string origin, bool allowed)
    {
        var api = await CorsApiAsync();
        using var http = fleet.Edge.CreateRestClient();

        using var response = await http.SendAsync(Preflight($"/{api.Slug}/x", origin, "GET", null), Ct);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(allowed ? origin : null, Header(response, AllowOrigin));
    }

    [Fact]
    public async Task ActualCall_FromAllowedOrigin_CarriesCorsHeaders_OnThe401Too_UpstreamCorsReplaced()
    {
        var api = await CorsApiAsync();
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();

        using var ok = await http.SendAsync(Get($"/{api.Slug}/data", AppOrigin, consumer.Key), Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(AppOrigin, Header(ok, AllowOrigin));
        Assert.Equal(["X-Request-Id"], List(ok, "Access-Control-Expose-Headers"));
        Assert.Contains("Origin", ok.Headers.Vary);

        // The edge's own refusal: a browser can read it.
        using var unauthenticated = await http.SendAsync(Get($"/{api.Slug}/data", AppOrigin, key: null), Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
        Assert.Equal(AppOrigin, Header(unauthenticated, AllowOrigin));

        using var stranger = await http.SendAsync(Get($"/{api.Slug}/data", "https://evil.example.net", consumer.Key), Ct);
        Assert.Equal(HttpStatusCode.OK, stranger.StatusCode);
        Assert.Null(Header(stranger, AllowOrigin));

        // The upstream's own wide-open answer gives way to the API's policy.
        using var own = await http.SendAsync(Get($"/{api.Slug}/own-cors", AppOrigin, consumer.Key), Ct);
        Assert.Equal(AppOrigin, Header(own, AllowOrigin));
        Assert.Null(Header(own, "Access-Control-Allow-Credentials"));
        using var ownStranger = await http.SendAsync(Get($"/{api.Slug}/own-cors", "https://evil.example.net", consumer.Key), Ct);
        Assert.Null(Header(ownStranger, AllowOrigin));
        Assert.Null(Header(ownStranger, "Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task ApiWithoutCors_PreflightIsAnOrdinaryCall_NeedsAKey()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var http = fleet.Edge.CreateRestClient();

        using var response = await http.SendAsync(Preflight($"/{api.Slug}/x", AppOrigin, "GET", null), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Null(Header(response, AllowOrigin));
    }

    [Fact]
    public async Task ManagementApi_CorsFromItsOptions()
    {
        using var http = fleet.Edge.CreateRestClient();

        using var preflight = await http.SendAsync(Preflight("/v1/apis", CorsFixture.PortalOrigin, "PATCH", "authorization, content-type"), Ct);
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal(CorsFixture.PortalOrigin, Header(preflight, AllowOrigin));
        Assert.Equal(["Authorization", "Content-Type"], List(preflight, "Access-Control-Allow-Headers"));
        Assert.Contains("PATCH", List(preflight, "Access-Control-Allow-Methods"));
        Assert.Equal("3600", Header(preflight, "Access-Control-Max-Age"));

        using var list = await http.SendAsync(Get("/v1/apis", CorsFixture.PortalOrigin, key: null), Ct);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Equal(CorsFixture.PortalOrigin, Header(list, AllowOrigin));
        Assert.Equal(["X-Request-Id"], List(list, "Access-Control-Expose-Headers"));

        using var local = await http.SendAsync(Get("/v1/apis", "http://localhost:5173", key: null), Ct);
        Assert.Equal("http://localhost:5173", Header(local, AllowOrigin));

        using var stranger = await http.SendAsync(Preflight("/v1/apis", AppOrigin, "GET", null), Ct);
        Assert.Equal(HttpStatusCode.NoContent, stranger.StatusCode);
        Assert.Null(Header(stranger, AllowOrigin));

        // Another edge without the options: management CORS is off, preflights go to the service.
        using var plain = fleet.LongCacheEdge.CreateRestClient();
        using var off = await plain.SendAsync(Get("/v1/apis", CorsFixture.PortalOrigin, key: null), Ct);
        Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        Assert.Null(Header(off, AllowOrigin));
    }

    [Theory]
    [InlineData("*")]
    [InlineData("http://portal.example.com")]
    [InlineData("https://portal.example.com/")]
    [InlineData("https://portal.example.com/app")]
    [InlineData("https://*.com")]
    public void ManagementCorsOptions_BadOrigin_RefusedAtStart(string origin)
    {
        using var edge = fleet.Wire(new ServiceHost<EdgeOptions>()).With("Edge:ManagementCors:AllowedOrigins:0", origin);

        var error = Assert.Throws<OptionsValidationException>(() => edge.Start());

        Assert.Contains("Edge:ManagementCors:AllowedOrigins", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ManagementCorsOptions_GoodOrigins_Accepted()
    {
        var options = new ManagementCorsOptions { AllowedOrigins = [CorsFixture.PortalOrigin, "https://*.example.com", "http://localhost:3000", "http://localhost"] };
        Assert.True(new ManagementCorsOptionsValidator().Validate(null, options).Succeeded);
    }

    /// <summary>An API with CORS for <see cref="AppOrigin"/> and <c>https://*.example.org</c>, applied by <see cref="EdgeFixture.Edge"/>.</summary>
    private async Task<PublishedApi> CorsApiAsync()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        using var patch = new HttpRequestMessage(HttpMethod.Patch, $"v1/apis/{api.ApiId}")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new
            {
                policies = new
                {
                    cors = new
                    {
                        allowedOrigins = new[] { AppOrigin, "https://*.example.org" },
                        allowedMethods = new[] { "GET", "POST" },
                        exposedHeaders = new[] { "X-Request-Id" },
                        maxAgeSeconds = 600,
                    },
                },
            }),
        };
        patch.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
        using var response = await rest.SendAsync(patch, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        // Applied once a preflight to another path is answered by the edge.
        await Eventually.HoldsAsync(async () =>
        {
            using var preflight = await rest.SendAsync(Preflight($"/{api.Slug}/applied", AppOrigin, "GET", null), Ct);
            return preflight.StatusCode == HttpStatusCode.NoContent;
        }, Bound, $"the edge applies the CORS policy of {api.Slug}");
        return api;
    }

    private static HttpRequestMessage Preflight(string path, string origin, string method, string? headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.TryAddWithoutValidation("Origin", origin);
        request.Headers.TryAddWithoutValidation("Access-Control-Request-Method", method);
        if (headers is not null)
        {
            request.Headers.TryAddWithoutValidation("Access-Control-Request-Headers", headers);
        }
        return request;
    }

    private static HttpRequestMessage Get(string path, string origin, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Origin", origin);
        if (key is not null)
        {
            request.Headers.Add("X-Api-Key", key);
        }
        return request;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static string[] List(HttpResponseMessage response, string name) =>
        Header(response, name)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];
}
