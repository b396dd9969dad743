using System.Net;
using System.Text.Json.Nodes;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The call log end to end: calls through a real edge, spooled, shipped to a real usage service,
/// and listed through the edge's management route (GET /v1/usage/calls) with the request id the
/// client saw, the path without its query, and each tenant's calls only.
/// </summary>
public sealed class CallLogThroughEdgeTests(UsageFixture fixture) : IClassFixture<UsageFixture>
{
    private static readonly TimeSpan ShipBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ListCalls_CallsThroughTheEdge_ListsExactlyThoseWithTheirRequestIdsToTheirTenantsOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fixture.PublishApiAsync();
        var otherApi = await fixture.PublishApiAsync();
        var consumer = await fixture.ConsumerAsync(api.PlanId);
        var otherConsumer = await fixture.ConsumerAsync(api.PlanId);
        // The warm-up call is the other consumer's: every call of `consumer` below is one the test made.
        await UsageFixture.WaitServedAsync(fixture.Edge.HttpUrl, api.Slug, otherConsumer.Key, TimeSpan.FromSeconds(10));
        using var http = fixture.Edge.CreateRestClient();

        // Six calls: query strings (never logged), an encoded "?" in the path, the client's own
        // X-Request-Id or none; then one with an unknown key (401, nobody's key).
        string[] paths = ["/forecast?city=paris&token=s3cret", "/forecast/caf%C3%A9%3Fnot-a-query", "/a/b/c", "/", "/forecast?x=1", "/x"];
        var sent = new List<(string Path, int Status, string RequestId)>();
        for (var i = 0; i < paths.Length; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, api.Slug + paths[i]);
            request.Headers.Add("X-Api-Key", consumer.Key);
            if (i % 2 == 0)
            {
                request.Headers.Add("X-Request-Id", $"client-chosen.{i}-{Guid.NewGuid():N}");
            }
            using var response = await http.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var requestId = Assert.Single(response.Headers.GetValues("X-Request-Id"));
            sent.Add(("/" + api.Slug + paths[i].Split('?')[0], 200, requestId));
        }
        using (var anonymous = new HttpRequestMessage(HttpMethod.Get, api.Slug + "/forecast"))
        {
            anonymous.Headers.Add("X-Api-Key", "veil_live_" + new string('1', 44));
            using var response = await http.SendAsync(anonymous, ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        await Eventually.HoldsAsync(async () => (await ListAsync(http, consumer.Account.Token, "")).Count >= paths.Length &&
            (await ListAsync(http, api.Provider.Token, "?status=401")).Count >= 1, ShipBound, "usage has the six calls and the 401");
        var mine = await ListAsync(http, consumer.Account.Token, "");
        var byProvider = await ListAsync(http, api.Provider.Token, "");

        // The consumer: exactly its six calls, newest first, as the client saw them.
        Assert.Equal(sent.AsEnumerable().Reverse().Select(s => $"GET {s.Path} {s.Status} {s.RequestId}"),
            mine.Select(c => $"{c["method"]} {c["path"]} {c["statusCode"]} {c["requestId"]}"));
        Assert.All(mine, c =>
        {
            Assert.Equal(api.ApiId, (string?)c["apiId"]);
            Assert.Equal(consumer.KeyId, (string?)c["keyId"]);
            Assert.Equal(ApiKeyFormat.DisplayPrefix(consumer.Key), (string?)c["keyPrefix"]);
        });
        Assert.DoesNotContain(mine, c => c.ToJsonString().Contains("s3cret", StringComparison.Ordinal));
        // The other consumer of the same API sees only its own calls (the warm-up); the other provider sees nothing.
        var theirs = await ListAsync(http, otherConsumer.Account.Token, "");
        Assert.NotEmpty(theirs);
        Assert.All(theirs, c => Assert.Equal(otherConsumer.KeyId, (string?)c["keyId"]));
        Assert.Empty(await ListAsync(http, otherApi.Provider.Token, ""));
        Assert.Empty(await ListAsync(http, otherApi.Provider.Token, $"?api_id={api.ApiId}"));
        // The provider sees every call of its API, keys by id only, and filters by key and status.
        Assert.All(byProvider, c => Assert.Equal("", (string?)c["keyPrefix"]));
        Assert.Equal(sent.Select(s => s.RequestId).Order(),
            (await ListAsync(http, api.Provider.Token, $"?key_id={consumer.KeyId}")).Select(c => (string)c["requestId"]!).Order());
        Assert.Equal(sent.Count + theirs.Count + 1, byProvider.Count);
        var rejected = Assert.Single(await ListAsync(http, api.Provider.Token, "?status=401"));
        Assert.Equal((401, "/" + api.Slug + "/forecast"), ((int)rejected["statusCode"]!, (string)rejected["path"]!));
        Assert.Equal("", (string?)rejected["keyId"]);
    }

    /// <summary>Every call the token's holder may see, through the edge, following next_page_token (pages of 4).</summary>
    private static async Task<List<JsonNode>> ListAsync(HttpClient http, string token, string query)
    {
        var ct = TestContext.Current.CancellationToken;
        var calls = new List<JsonNode>();
        var separator = query.Length == 0 ? "?" : "&";
        var pageToken = "";
        for (var pages = 0; pages < 50; pages++)
        {
            var tokenPart = pageToken.Length == 0 ? "" : "&page_token=" + Uri.EscapeDataString(pageToken);
            var page = await EdgeFixture.GetAsync(http, $"v1/usage/calls{query}{separator}page_size=4{tokenPart}", token, ct);
            calls.AddRange(page["calls"]?.AsArray().Select(c => c!) ?? []);
            pageToken = (string?)page["nextPageToken"] ?? "";
            if (pageToken.Length == 0)
            {
                return calls;
            }
        }
        throw new InvalidOperationException("More than 50 pages.");
    }
}
