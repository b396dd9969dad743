using System.Net;
using System.Text.Json.Nodes;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Narrowed, expired and rotated API keys through the real edge, with real identity, catalog and
/// subscriptions behind it: scope refusals are 403 key-scope problems, an expired key's 401 says
/// so, and a rotated key works alongside its successor until the overlap ends.
/// </summary>
public sealed class ApiKeyScopeTests(EdgeFixture fleet) : IClassFixture<EdgeFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Call_KeyScopedToOneApi_OtherApiGets403KeyScopeAndItsOwnApi200()
    {
        var allowed = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var other = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(allowed.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        await EdgeFixture.PostAsync(http, "v1/subscriptions", consumer.Account.Token, new { planId = other.PlanId }, ct);
        var scoped = await CreateKeyAsync(http, consumer, new { name = "only one", apiIds = new[] { allowed.ApiId } });

        var own = await CallAsync(http, HttpMethod.Get, allowed.Slug, scoped);
        var elsewhere = await CallAsync(http, HttpMethod.Get, other.Slug, scoped);
        var unscopedElsewhere = await CallAsync(http, HttpMethod.Get, other.Slug, consumer.Key);

        Assert.Equal(HttpStatusCode.OK, own.Status);
        Assert.Equal(HttpStatusCode.Forbidden, elsewhere.Status);
        Assert.Equal("https://veil.dev/problems/key-scope", (string?)JsonNode.Parse(elsewhere.Body)!["type"]);
        Assert.Contains("not scoped to this API", elsewhere.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, unscopedElsewhere.Status);
    }

    [Fact]
    public async Task Call_ReadOnlyKey_WritesGet403AndReadsPass()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var readOnly = await CreateKeyAsync(http, consumer, new { name = "reader", readOnly = true });

        var get = await CallAsync(http, HttpMethod.Get, api.Slug, readOnly);
        var head = await CallAsync(http, HttpMethod.Head, api.Slug, readOnly);
        var options = await CallAsync(http, HttpMethod.Options, api.Slug, readOnly);
        var post = await CallAsync(http, HttpMethod.Post, api.Slug, readOnly);
        var delete = await CallAsync(http, HttpMethod.Delete, api.Slug, readOnly);
        var postWithFullKey = await CallAsync(http, HttpMethod.Post, api.Slug, consumer.Key);

        Assert.Equal(HttpStatusCode.OK, get.Status);
        Assert.Equal(HttpStatusCode.OK, head.Status);
        Assert.Equal(HttpStatusCode.OK, options.Status);
        Assert.Equal(HttpStatusCode.Forbidden, post.Status);
        Assert.Equal("https://veil.dev/problems/key-scope", (string?)JsonNode.Parse(post.Body)!["type"]);
        Assert.Contains("read-only", post.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, delete.Status);
        Assert.Equal(HttpStatusCode.OK, postWithFullKey.Status);
    }

    [Fact]
    public async Task Call_ExpiredKey_Returns401SayingItExpired()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        // A rotation with no overlap ends the old key now: an expired key without moving the fleet's clock.
        await EdgeFixture.PostAsync(http, $"v1/keys/{consumer.KeyId}:rotate", consumer.Account.Token, new { overlap = "0s" }, ct);

        var expired = await CallAsync(http, HttpMethod.Get, api.Slug, consumer.Key);
        var unknown = await CallAsync(http, HttpMethod.Get, api.Slug, Veil.ServiceDefaults.Security.ApiKeyFormat.Generate());

        Assert.Equal(HttpStatusCode.Unauthorized, expired.Status);
        Assert.Equal("https://veil.dev/problems/key-expired", (string?)JsonNode.Parse(expired.Body)!["type"]);
        Assert.Contains("expired", expired.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.Status);
        Assert.DoesNotContain("expired", unknown.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Call_RotatedKey_BothKeysWorkDuringOverlapThenOnlyTheSuccessor()
    {
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: fleet.Edge);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = fleet.Edge.CreateRestClient();
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(http, HttpMethod.Get, api.Slug, consumer.Key)).Status);

        var rotated = await EdgeFixture.PostAsync(http, $"v1/keys/{consumer.KeyId}:rotate", consumer.Account.Token, new { overlap = "4s" }, ct);
        var successor = rotated["key"]!.GetValue<string>();
        var oldDuringOverlap = await CallAsync(http, HttpMethod.Get, api.Slug, consumer.Key);
        var newDuringOverlap = await CallAsync(http, HttpMethod.Get, api.Slug, successor);
        // Past the overlap (4 s) plus the edge's 1 s cache, the old key is refused as expired.
        (HttpStatusCode Status, string Body) oldAfter = default;
        await Eventually.HoldsAsync(async () =>
        {
            oldAfter = await CallAsync(http, HttpMethod.Get, api.Slug, consumer.Key);
            return oldAfter.Status == HttpStatusCode.Unauthorized;
        }, Bound, "the rotated key is refused once its overlap ends");
        var newAfter = await CallAsync(http, HttpMethod.Get, api.Slug, successor);

        Assert.Equal(HttpStatusCode.OK, oldDuringOverlap.Status);
        Assert.Equal(HttpStatusCode.OK, newDuringOverlap.Status);
        Assert.Contains("expired", oldAfter.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, newAfter.Status);
        Assert.Equal(consumer.KeyId, rotated["apiKey"]!["rotatedFrom"]!.GetValue<string>());
    }

    private static async Task<string> CreateKeyAsync(HttpClient http, Consumer consumer, object body)
    {
        var created = await EdgeFixture.PostAsync(http, "v1/keys", consumer.Account.Token, body, TestContext.Current.CancellationToken);
        return created["key"]!.GetValue<string>();
    }

    private static async Task<(HttpStatusCode Status, string Body)> CallAsync(HttpClient http, HttpMethod method, string slug, string key)
    {
        var ct = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(method, $"{slug}/echo");
        request.Headers.TryAddWithoutValidation("X-Api-Key", key);
        using var response = await http.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }
}
