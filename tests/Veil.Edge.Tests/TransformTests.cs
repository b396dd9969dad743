using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Veil.Samples.Upstream;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Per-API transforms (docs/transforms.md) through real catalog, identity, subscriptions, a real edge
/// and the echo upstream: header set/append/remove on the request (what the upstream receives) and
/// the response (what the client receives), placeholders filled with the caller's ids, the path
/// prefix, and their order against the upstream credentials and the call signature.
/// </summary>
public sealed class TransformTests(PoliciesFixture fleet) : IClassFixture<PoliciesFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HeaderTransforms_SeenByUpstreamAndClient_PlaceholdersFilled_PathPrefixed()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        // Before: the upstream's Server header reaches the client, the path is unchanged.
        var before = await EventuallyEchoAsync(api, consumer, "/things", _ => true);
        Assert.NotEmpty(before.Response.Headers.Server);
        Assert.Equal("/things", before.Body["path"]!.GetValue<string>());

        await PatchAsync(api, new
        {
            policies = new
            {
                transforms = new
                {
                    requestHeaders = new object[]
                    {
                        new { action = "set", name = "X-Tenant", value = "tenant-{consumer_id}" },
                        new { action = "set", name = "X-Call", value = "{plan_id}/{request_id}" },
                        new { action = "append", name = "Accept-Language", value = "fr" },
                        new { action = "remove", name = "X-Drop-Me" },
                        new { action = "set", name = "X-Static", value = "a fixed value" },
                    },
                    responseHeaders = new object[]
                    {
                        new { action = "set", name = "X-Served-By", value = "veil" },
                        new { action = "append", name = "X-Served-By", value = "{consumer_id}" },
                        new { action = "remove", name = "Server" },
                    },
                    pathPrefix = "/v2",
                },
            },
        });

        var (body, response) = await EventuallyEchoAsync(api, consumer, "/things?x=1", e => e["path"]!.GetValue<string>() == "/v2/things", request =>
        {
            request.Headers.Add("Accept-Language", "en");
            request.Headers.Add("X-Drop-Me", "1");
        });

        var headers = body["headers"]!;
        Assert.Equal("?x=1", body["query"]!.GetValue<string>());
        Assert.Equal("tenant-" + consumer.Account.Id, headers["x-tenant"]!.GetValue<string>());
        var requestId = headers["x-request-id"]!.GetValue<string>();
        Assert.Equal(api.PlanId + "/" + requestId, headers["x-call"]!.GetValue<string>());
        Assert.Equal(requestId, Assert.Single(response.Headers.GetValues("X-Request-Id")));
        Assert.Equal(["en", "fr"], headers["accept-language"]!.GetValue<string>().Split(',', StringSplitOptions.TrimEntries));
        Assert.Null(headers["x-drop-me"]);
        Assert.Equal("a fixed value", headers["x-static"]!.GetValue<string>());

        Assert.Equal(["veil", consumer.Account.Id], response.Headers.GetValues("X-Served-By").SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).ToArray());
        Assert.Empty(response.Headers.Server);
    }

    [Fact]
    public async Task SignedApi_SignatureCoversTheRewrittenPath_CredentialsWinOverTransforms()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        using var rest = fleet.Edge.CreateRestClient();
        var secret = (await EdgeFixture.PostAsync(rest, $"v1/apis/{api.ApiId}:rotateSigningSecret", api.Provider.Token, new { }, Ct))["signingSecret"]!.GetValue<string>();
        await PatchAsync(api, new
        {
            upstreamCredentials = new { items = new object[] { new { name = "X-Api-Token", value = "credential-value-0123" } } },
            policies = new
            {
                transforms = new
                {
                    requestHeaders = new object[]
                    {
                        new { action = "set", name = "X-Api-Token", value = "from-a-transform" },
                        new { action = "append", name = "X-Api-Token", value = "{consumer_id}" },
                    },
                    pathPrefix = "/v3/public",
                },
            },
        });
        var consumer = await fleet.ConsumerAsync(api.PlanId);

        var (body, _) = await EventuallyEchoAsync(api, consumer, "/orders/7?b=2&a=1",
            e => e["path"]!.GetValue<string>().StartsWith("/v3/", StringComparison.Ordinal) && e["headers"]!["x-veil-signature"] is not null, null);

        var headers = body["headers"]!;
        Assert.Equal("credential-value-0123", headers["x-api-token"]!.GetValue<string>());
        var target = body["path"]!.GetValue<string>() + body["query"]!.GetValue<string>();
        Assert.Equal("/v3/public/orders/7?b=2&a=1", target);
        bool Verify(string signedTarget) => VeilSignature.Verify(secret, headers["x-veil-signature"]!.GetValue<string>(), body["method"]!.GetValue<string>(),
            signedTarget, headers["x-veil-consumer"]!.GetValue<string>(), headers["x-veil-subscription"]!.GetValue<string>(),
            headers["x-veil-plan"]!.GetValue<string>(), headers["x-request-id"]!.GetValue<string>(), DateTimeOffset.UtcNow);
        Assert.True(Verify(target), "the signature covers the path the upstream received");
        Assert.False(Verify("/orders/7?b=2&a=1"), "not the path before the prefix");
    }

    private async Task PatchAsync(PublishedApi api, object body)
    {
        using var rest = fleet.Edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"v1/apis/{api.ApiId}") { Content = System.Net.Http.Json.JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Provider.Token);
        using var response = await rest.SendAsync(request, Ct);
        Assert.True(response.IsSuccessStatusCode, $"PATCH → {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
    }

    private Task<(JsonNode Body, HttpResponseMessage Response)> EventuallyEchoAsync(PublishedApi api, Consumer consumer, string pathAndQuery,
        Func<JsonNode, bool> applied, Action<HttpRequestMessage>? configure = null) =>
        fleet.EventuallyEchoAsync(api, consumer, pathAndQuery, applied, Bound, $"the edge applies the transforms of {api.Slug}", configure, Ct);
}
