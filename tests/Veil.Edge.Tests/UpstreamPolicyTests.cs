using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Samples.Upstream;
using Microsoft.Extensions.Time.Testing;
using Veil.Catalog.Grpc;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary><see cref="EdgeFixture"/> whose catalog runs on a fake clock, so a signing-secret overlap can end on demand.</summary>
public sealed class PoliciesFixture : EdgeFixture
{
    /// <summary>Catalog's clock, at a chosen date.</summary>
    public FakeTimeProvider CatalogClock { get; } = new(new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero));

    protected override void ConfigureCatalog(ServiceHost<CatalogGrpcService> catalog) =>
        catalog.WithServices(services => services.AddSingleton<TimeProvider>(CatalogClock));
}

/// <summary>
/// Upstream credentials and signed calls (docs/policies.md) through real catalog, identity,
/// subscriptions, a real edge and the echo upstream: what the upstream receives, what the consumer
/// and the catalog's readers never see, and signatures checked with the documented algorithm.
/// </summary>
public sealed class UpstreamPolicyTests(PoliciesFixture fleet) : IClassFixture<PoliciesFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private const string TokenValue = "Bearer upstream-token-0123456789abcdef";
    private const string QueryValue = "query-secret-9876543210";

    [Fact]
    public async Task Credentials_AddedUpstream_ReplaceConsumerCopies_NeverInResponsesOrCatalogReads()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var updated = await PatchAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, new
        {
            upstreamCredentials = new
            {
                items = new object[]
                {
                    new { name = "Authorization", value = TokenValue },
                    new { location = "query", name = "api_key", value = QueryValue },
                },
            },
        }, ct);
        Assert.DoesNotContain(TokenValue, updated);
        Assert.DoesNotContain(QueryValue, updated);
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        // The consumer sends its own Authorization (a non-Veil bearer) and api_key: the credentials win.
        var echo = await EventuallyEchoAsync(api, consumer, "/things?api_key=forged&x=1", e =>
            e["headers"]!["authorization"]?.GetValue<string>() == TokenValue,
            request => request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "consumer-forged"), ct);
        // Replaced where the consumer put it; a query without it gets it at the end.
        Assert.Equal("?api_key=" + QueryValue + "&x=1", echo.Body["query"]!.GetValue<string>());
        Assert.DoesNotContain("forged", echo.Body["query"]!.GetValue<string>());
        Assert.DoesNotContain(echo.Response.Headers, h => h.Value.Any(v => v.Contains(TokenValue, StringComparison.Ordinal)));

        // Catalog shows hints only: the API, its versions (list and one), to the owner.
        var reads = new[]
        {
            await GetTextAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, ct),
            await GetTextAsync(rest, $"v1/apis/{api.ApiId}/versions", api.Provider.Token, ct),
            await GetTextAsync(rest, $"v1/apis/{api.ApiId}/versions/2", api.Provider.Token, ct),
            await GetTextAsync(rest, $"v1/apis?providerId={api.Provider.Id}", api.Provider.Token, ct),
        };
        foreach (var read in reads)
        {
            Assert.DoesNotContain(TokenValue, read);
            Assert.DoesNotContain("upstream-token", read);
            Assert.DoesNotContain(QueryValue, read);
        }
        var credentials = JsonNode.Parse(reads[0])!["api"]!["upstreamCredentials"]!.AsArray();
        Assert.Equal("Bear…cdef", credentials[0]!["valueHint"]!.GetValue<string>());
        Assert.Equal("quer…3210", credentials[1]!["valueHint"]!.GetValue<string>());

        // An update that does not name the credentials keeps them (copied into the new version).
        await PatchAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, new { name = "Renamed" }, ct);
        await EventuallyEchoAsync(api, consumer, "/after-rename", e =>
            e["headers"]!["authorization"]?.GetValue<string>() == TokenValue && e["path"]!.GetValue<string>() == "/after-rename", null, ct);
        var version3 = JsonNode.Parse(await GetTextAsync(rest, $"v1/apis/{api.ApiId}/versions/3", api.Provider.Token, ct))!;
        Assert.Equal(2, version3["version"]!["api"]!["upstreamCredentials"]!.AsArray().Count);

        // The credential's value is sealed at rest: not in catalog's database files.
        Assert.Empty(DatabaseFiles.FindSecrets(fleet.Catalog.DataDirectory, "catalog",
            ("credential", System.Text.Encoding.UTF8.GetBytes("upstream-token-0123456789abcdef")), ("query credential", System.Text.Encoding.UTF8.GetBytes(QueryValue))));
    }

    [Fact]
    public async Task SignedCall_VerifiesWithTheDocumentedAlgorithm_TamperedOrStaleFails()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var secret = await RotateAsync(rest, api, ct);
        Assert.StartsWith("vsig_", secret);
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        var echo = await EventuallyEchoAsync(api, consumer, "/orders/7?b=2&a=1", e => e["headers"]!["x-veil-signature"] is not null, null, ct);
        var signed = Signed.From(echo.Body);
        Assert.Matches("^t=[0-9]+,v1=[0-9a-f]{64}$", signed.Header);
        Assert.Equal("/orders/7?b=2&a=1", signed.Target);
        Assert.Equal(consumer.Account.Id, signed.Consumer);
        var now = DateTimeOffset.UtcNow;
        Assert.True(signed.Verify(secret, now), signed.Header);

        Assert.False(signed.Verify("vsig_" + new string('A', 43), now), "another secret");
        Assert.False((signed with { Consumer = "acc_someone_else" }).Verify(secret, now), "tampered consumer");
        Assert.False((signed with { Target = "/orders/8?b=2&a=1" }).Verify(secret, now), "tampered path");
        Assert.False((signed with { Method = "DELETE" }).Verify(secret, now), "tampered method");
        Assert.False((signed with { Plan = "plan_other" }).Verify(secret, now), "tampered plan");
        Assert.False(signed.Verify(secret, now.AddMinutes(6)), "stale");
        Assert.False((signed with { Header = null }).Verify(secret, now), "unsigned");

        // A consumer cannot bring its own signature: the edge drops client-sent X-Veil-*.
        var forged = await EventuallyEchoAsync(api, consumer, "/forged", e => e["path"]!.GetValue<string>() == "/forged",
            request => request.Headers.Add("X-Veil-Signature", "t=1,v1=00"), ct);
        Assert.DoesNotContain("t=1,v1=00", forged.Body["headers"]!["x-veil-signature"]!.GetValue<string>());

        // Catalog never shows the secret again.
        var read = await GetTextAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, ct);
        Assert.DoesNotContain(secret, read);
        Assert.True(JsonNode.Parse(read)!["api"]!["signedCalls"]!.GetValue<bool>());
        Assert.Empty(DatabaseFiles.FindSecrets(fleet.Catalog.DataDirectory, "catalog", ("signing secret", System.Text.Encoding.UTF8.GetBytes(secret))));
    }

    [Fact]
    public async Task Rotation_BothSignaturesDuringOverlap_OnlyTheNewAfter()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var first = await RotateAsync(rest, api, ct);
        var second = await RotateAsync(rest, api, ct);
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        var during = Signed.From((await EventuallyEchoAsync(api, consumer, "/during", e =>
            e["headers"]!["x-veil-signature"]?.GetValue<string>().Split(',').Length == 3, null, ct)).Body);
        var now = DateTimeOffset.UtcNow;
        Assert.True(during.Verify(first, now), "the previous secret verifies during the overlap");
        Assert.True(during.Verify(second, now), "the new secret verifies during the overlap");
        var signatures = during.Header!.Split(',')[1..];
        Assert.False((during with { Header = $"{during.Header.Split(',')[0]},{signatures[1]}" }).Verify(second, now), "the new secret's signature comes first");
        var overlapEnd = JsonNode.Parse(await GetTextAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, ct))!["api"]!["previousSigningSecretExpireTime"];
        Assert.NotNull(overlapEnd);

        // Catalog's clock passes the default 24 h overlap: the edges drop the previous secret.
        fleet.CatalogClock.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        var after = Signed.From((await EventuallyEchoAsync(api, consumer, "/after", e =>
            e["headers"]!["x-veil-signature"]?.GetValue<string>().Split(',').Length == 2, null, ct)).Body);
        Assert.True(after.Verify(second, DateTimeOffset.UtcNow));
        Assert.False(after.Verify(first, DateTimeOffset.UtcNow), "the previous secret no longer verifies after the overlap");
        Assert.Null(JsonNode.Parse(await GetTextAsync(rest, $"v1/apis/{api.ApiId}", api.Provider.Token, ct))!["api"]!["previousSigningSecretExpireTime"]);
    }

    [Fact]
    public async Task BadCredentials_RefusedOverRestWithFieldErrors()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"v1/apis/{api.ApiId}")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new
            {
                upstreamCredentials = new
                {
                    items = new object[]
                    {
                        new { name = "X-Veil-Consumer", value = "x" },
                        new { name = "Connection", value = "close" },
                        new { name = "X-Token", value = "a\r\nInjected: 1" },
                        new { name = "Bad Name", value = "x" },
                        new { name = "X-Dup", value = "1" },
                        new { name = "x-dup", value = "2" },
                        new { location = "cookie", name = "c", value = "x" },
                        new { name = "X-Long", value = new string('a', 4097) },
                    },
                },
            }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
        using var response = await rest.SendAsync(request, ct);
        var fields = Expect.ProblemFields(await Expect.ProblemAsync(response, HttpStatusCode.BadRequest)).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "upstreamCredentials.items[0].name", "upstreamCredentials.items[1].name", "upstreamCredentials.items[2].value",
            "upstreamCredentials.items[3].name", "upstreamCredentials.items[5].name", "upstreamCredentials.items[6].location",
            "upstreamCredentials.items[7].value",
        }, fields);
        Assert.DoesNotContain("upstreamCredentials.items[4].name", fields);
    }

    private static async Task<string> RotateAsync(HttpClient rest, PublishedApi api, CancellationToken ct)
    {
        var rotated = await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}:rotateSigningSecret", api.Provider.Token, new { }, ct);
        return rotated["signingSecret"]!.GetValue<string>();
    }

    private Task<(JsonNode Body, HttpResponseMessage Response)> EventuallyEchoAsync(PublishedApi api, Consumer consumer, string pathAndQuery,
        Func<JsonNode, bool> applied, Action<HttpRequestMessage>? configure, CancellationToken ct) =>
        fleet.EventuallyEchoAsync(api, consumer, pathAndQuery, applied, Bound, $"the edge applies the policy of {api.Slug}", configure, ct);

    private static async Task<string> PatchAsync(HttpClient http, string path, string token, object body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, path) { Content = System.Net.Http.Json.JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"PATCH {path} → {(int)response.StatusCode}: {text}");
        return text;
    }

    private static async Task<string> GetTextAsync(HttpClient http, string path, string token, CancellationToken ct) =>
        (await EdgeFixture.GetAsync(http, path, token, ct)).ToJsonString();

    /// <summary>What the upstream received of one signed call (the echo's view).</summary>
    private sealed record Signed(string? Header, string Method, string Target, string Consumer, string Subscription, string Plan, string RequestId)
    {
        public static Signed From(JsonNode echo)
        {
            var headers = echo["headers"]!;
            return new Signed(
                headers["x-veil-signature"]?.GetValue<string>(),
                echo["method"]!.GetValue<string>(),
                echo["path"]!.GetValue<string>() + echo["query"]!.GetValue<string>(),
                headers["x-veil-consumer"]!.GetValue<string>(),
                headers["x-veil-subscription"]!.GetValue<string>(),
                headers["x-veil-plan"]!.GetValue<string>(),
                headers["x-request-id"]!.GetValue<string>());
        }

        public bool Verify(string secret, DateTimeOffset now) =>
            VeilSignature.Verify(secret, Header, Method, Target, Consumer, Subscription, Plan, RequestId, now);
    }
}
