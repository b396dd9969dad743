using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Releases through real catalog, identity, subscriptions, a real edge and two real upstreams
/// (docs/edge.md, "Releases"): <c>/{slug}/{release}/…</c> and the <c>X-Veil-Release</c> header
/// each reach the release's upstream, neither reaches v1, a path that merely looks like a release
/// stays a path of v1, an unknown header release is a 404, and a deprecated release's responses
/// carry Deprecation and Sunset. Catalog's clock is at a chosen date (<see cref="PoliciesFixture"/>).
/// </summary>
public sealed class ReleaseRoutingTests(PoliciesFixture fleet) : IClassFixture<PoliciesFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private const string Header = "X-Veil-Release";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoReleases_PathAndHeaderReachTheReleasesUpstream_NeitherReachesV1()
    {
        await using var second = await EchoUpstream.StartAsync(Ct);
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        await CreateReleaseAsync(api, "v2", new Uri(second.Url, "r2"));

        // Path form: the release segment is removed, the release's upstream (and base path) used.
        var (path, _) = await EchoAsync(api, consumer, "/v2/things?x=1", body => Path(body) == "/r2/things");
        Assert.Equal("?x=1", path["query"]!.GetValue<string>());
        Assert.Contains("/r2/things", second.Paths);
        Assert.DoesNotContain("/things", second.Paths);

        // Header form: the path as is, to the release's upstream; the header is the edge's, never sent upstream.
        var (header, _) = await EchoAsync(api, consumer, "/things", _ => true, Release("v2"));
        Assert.Equal("/r2/things", Path(header));
        Assert.Null(header["headers"]![Header.ToLowerInvariant()]);

        // Neither: v1, the API's own upstream.
        var before = fleet.Upstream.Paths.Count(p => p == "/things");
        var (plain, _) = await EchoAsync(api, consumer, "/things", _ => true);
        Assert.Equal("/things", Path(plain));
        Assert.Equal(before + 1, fleet.Upstream.Paths.Count(p => p == "/things"));

        // The header wins over a path that starts with a release name: v1 gets /v2/things.
        var (v1, _) = await EchoAsync(api, consumer, "/v2/things", _ => true, Release("v1"));
        Assert.Equal("/v2/things", Path(v1));
        Assert.Contains("/v2/things", fleet.Upstream.Paths);

        // A segment that names no release is a path of v1.
        var (other, _) = await EchoAsync(api, consumer, "/v3/things", _ => true);
        Assert.Equal("/v3/things", Path(other));

        // A subscription covers every release; no subscription, no release.
        var stranger = await fleet.ConsumerAsync(planId: null);
        using var refused = await SendAsync(api, stranger, "/v2/things");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task UnknownOrSeveralReleasesInTheHeader_404Or400_NamingTheReleases_NothingForwarded()
    {
        await using var second = await EchoUpstream.StartAsync(Ct);
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        await CreateReleaseAsync(api, "v2", second.Url);
        await EchoAsync(api, consumer, "/probe", body => second.Paths.Contains("/probe"), Release("v2"));

        foreach (var (value, path) in new[] { ("v9", "/unknown-release"), ("V2", "/unknown-case"), ("v9", "/v2/unknown-with-path") })
        {
            using var response = await SendAsync(api, consumer, path, Release(value));
            var problem = await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
            Assert.Contains("v1, v2", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        using var several = await SendAsync(api, consumer, "/several", Release("v2, v1"));
        await Expect.ProblemAsync(several, HttpStatusCode.BadRequest);
        using var twice = await SendAsync(api, consumer, "/twice", request =>
        {
            request.Headers.Add(Header, "v2");
            request.Headers.Add(Header, "v2");
        });
        await Expect.ProblemAsync(twice, HttpStatusCode.BadRequest);

        Assert.DoesNotContain(fleet.Upstream.Paths.Concat(second.Paths),
            p => p.Contains("unknown", StringComparison.Ordinal) || p is "/several" or "/twice");
    }

    [Fact]
    public async Task ApiWithoutReleases_PathsLikeV1OrV2_StillGoToItsUpstreamUnchanged()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        foreach (var path in new[] { "/v2/orders", "/v1/orders", "/V2/orders" })
        {
            var (body, _) = await EchoAsync(api, consumer, path, _ => true);
            Assert.Equal(path, Path(body));
        }
        // v1 is every API's release: naming it changes nothing; naming another is a 404.
        var (named, _) = await EchoAsync(api, consumer, "/v2/orders", _ => true, Release("v1"));
        Assert.Equal("/v2/orders", Path(named));
        using var unknown = await SendAsync(api, consumer, "/v2/orders", Release("v2"));
        var problem = await Expect.ProblemAsync(unknown, HttpStatusCode.NotFound);
        Assert.Contains("releases are v1.", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeprecatedRelease_ResponsesCarryDeprecationSunsetAndLink_OtherReleasesDoNot()
    {
        await using var second = await EchoUpstream.StartAsync(Ct);
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        await CreateReleaseAsync(api, "v2", second.Url);
        using (var rest = fleet.Edge.CreateRestClient())
        {
            await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}/releases/v1:deprecate", api.Provider.Token,
                new { sunsetTime = "2026-09-01T00:00:00Z", link = "https://example.com/migrate-to-v2" }, Ct);
        }

        // Deprecated at catalog's clock: 2026-03-02T09:00:00Z.
        var (_, deprecated) = await EchoAsync(api, consumer, "/things", _ => true,
            applied: response => response.Headers.Contains("Deprecation"));
        Assert.Equal("@1772442000", Assert.Single(deprecated.Headers.GetValues("Deprecation")));
        Assert.Equal("Tue, 01 Sep 2026 00:00:00 GMT", Assert.Single(deprecated.Headers.GetValues("Sunset")));
        Assert.Equal("<https://example.com/migrate-to-v2>; rel=\"deprecation\"", Assert.Single(deprecated.Headers.GetValues("Link")));
        // Also when the edge answers itself (here: no key).
        using (var http = fleet.Edge.CreateRestClient())
        using (var noKey = await http.GetAsync($"{api.Slug}/things", Ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
            Assert.True(noKey.Headers.Contains("Deprecation"));
        }

        var (_, active) = await EchoAsync(api, consumer, "/v2/things", _ => true);
        Assert.False(active.Headers.Contains("Deprecation"));
        Assert.False(active.Headers.Contains("Sunset"));
    }

    [Fact]
    public async Task Rollback_BeforeTheRelease_ItsPathIsAPathOfV1Again()
    {
        await using var second = await EchoUpstream.StartAsync(Ct);
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        await CreateReleaseAsync(api, "v2", new Uri(second.Url, "r2"));
        await EchoAsync(api, consumer, "/v2/things", body => Path(body) == "/r2/things");

        using (var rest = fleet.Edge.CreateRestClient())
        {
            await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}:rollback", api.Provider.Token, new { version = 1 }, Ct);
        }

        var (body, _) = await EchoAsync(api, consumer, "/v2/things", b => Path(b) == "/v2/things");
        Assert.Equal("/v2/things", Path(body));
        using var gone = await SendAsync(api, consumer, "/things", Release("v2"));
        await Expect.ProblemAsync(gone, HttpStatusCode.NotFound);
    }

    private static string Path(JsonNode body) => body["path"]!.GetValue<string>();

    private static Action<HttpRequestMessage> Release(string value) => request => request.Headers.TryAddWithoutValidation(Header, value);

    private async Task CreateReleaseAsync(PublishedApi api, string name, Uri upstream)
    {
        using var rest = fleet.Edge.CreateRestClient();
        var created = await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}/releases", api.Provider.Token,
            new { name, upstreamUrl = upstream.ToString() }, Ct);
        Assert.Equal(name, created["release"]!["name"]!.GetValue<string>());
    }

    /// <summary>
    /// GETs until a 200 satisfies <paramref name="until"/> and <paramref name="applied"/> (the edge
    /// serves the newest config), within <see cref="Bound"/>.
    /// </summary>
    private async Task<(JsonNode Body, HttpResponseMessage Response)> EchoAsync(PublishedApi api, Consumer consumer, string pathAndQuery,
        Func<JsonNode, bool> until, Action<HttpRequestMessage>? configure = null, Func<HttpResponseMessage, bool>? applied = null)
    {
        (JsonNode Body, HttpResponseMessage Response)? last = null;
        await Eventually.HoldsAsync(async () =>
        {
            var response = await SendAsync(api, consumer, pathAndQuery, configure);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                response.Dispose();
                return false;
            }
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
            last = (body, response);
            return until(body) && (applied?.Invoke(response) ?? true);
        }, Bound, $"the edge serves {pathAndQuery} of {api.Slug} as expected");
        return last!.Value;
    }

    private async Task<HttpResponseMessage> SendAsync(PublishedApi api, Consumer consumer, string pathAndQuery, Action<HttpRequestMessage>? configure = null)
    {
        using var http = fleet.Edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, api.Slug + pathAndQuery);
        request.Headers.Add("X-Api-Key", consumer.Key);
        configure?.Invoke(request);
        return await http.SendAsync(request, Ct);
    }
}
