using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Veil.Catalog.V1;

namespace Veil.Catalog.Tests;

/// <summary>
/// REST as clients expect it, on catalog's APIs: 201 + Location on create, Idempotency-Key,
/// etag / If-Match, camelCase field paths in problems (docs/architecture.md, docs/catalog.md).
/// </summary>
public sealed class RestConventionsTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static object NewApi(string slug) => new
    {
        slug,
        name = "Weather",
        description = "Forecasts.",
        upstreamUrl = "https://weather.example.com/v1",
        timeoutMs = 5000,
    };

    private static async Task<HttpResponseMessage> PostAsync(HttpClient rest, string path, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await rest.SendAsync(request, Ct);
    }

    private static async Task<HttpResponseMessage> PatchAsync(HttpClient rest, string path, object body, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, path) { Content = JsonContent.Create(body) };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }
        return await rest.SendAsync(request, Ct);
    }

    [Fact]
    public async Task CreateApi_Rest_Answers201WithLocation()
    {
        var owner = await fixture.SignUpProviderAsync();
        using var rest = fixture.Rest(owner);

        using var response = await PostAsync(rest, "v1/apis", NewApi(CatalogFixture.UniqueSlug()));

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        var id = body.GetProperty("api").GetProperty("id").GetString();
        Assert.Equal($"/v1/apis/{id}", response.Headers.Location?.OriginalString);
        using var read = await rest.GetAsync(response.Headers.Location, Ct);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task CreateApi_RetriedWithSameIdempotencyKey_CreatesOneApiAndReturnsTheFirstAnswer()
    {
        var owner = await fixture.SignUpProviderAsync();
        using var rest = fixture.Rest(owner);
        var slug = CatalogFixture.UniqueSlug();
        var key = Guid.NewGuid().ToString();

        using var first = await PostAsync(rest, "v1/apis", NewApi(slug), key);
        using var retry = await PostAsync(rest, "v1/apis", NewApi(slug), key);
        using var otherBody = await PostAsync(rest, "v1/apis", NewApi(CatalogFixture.UniqueSlug()), key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(await first.Content.ReadAsStringAsync(Ct), await retry.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, otherBody.StatusCode);
        var mine = await fixture.Client.ListApisAsync(new ListApisRequest { Query = slug }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Single(mine.Apis);
    }

    [Fact]
    public async Task UpdateApi_StaleIfMatch_Returns409AndKeepsTheOtherChange()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);
        Assert.False(string.IsNullOrEmpty(created.Etag));
        // Someone else changes the API after this client read it.
        var changed = (await fixture.Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Theirs" },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        using var stale = await PatchAsync(rest, $"v1/apis/{created.Id}", new { name = "Mine" }, ifMatch: $"\"{created.Etag}\"");

        var problem = await stale.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(stale.StatusCode == HttpStatusCode.Conflict, problem.ToString());
        Assert.Contains("has changed since it was read", problem.GetProperty("detail").GetString());
        var current = (await fixture.Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal("Theirs", current.Name);
        Assert.Equal(changed.Etag, current.Etag);
        Assert.NotEqual(created.Etag, current.Etag);
    }

    [Fact]
    public async Task UpdateApi_FreshIfMatchFromETagHeader_Applies()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);
        using var read = await rest.GetAsync($"v1/apis/{created.Id}", Ct);
        var etag = read.Headers.ETag;
        Assert.NotNull(etag);
        Assert.Equal($"\"{created.Etag}\"", etag.Tag);

        using var update = await PatchAsync(rest, $"v1/apis/{created.Id}", new { name = "Mine" }, ifMatch: etag.Tag);
        using var withoutEtag = await PatchAsync(rest, $"v1/apis/{created.Id}", new { description = "Anyone's" });

        var body = await update.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(update.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal("Mine", body.GetProperty("api").GetProperty("name").GetString());
        Assert.NotEqual(created.Etag, body.GetProperty("api").GetProperty("etag").GetString());
        Assert.Equal($"\"{body.GetProperty("api").GetProperty("etag").GetString()}\"", update.Headers.ETag?.Tag);
        Assert.Equal(HttpStatusCode.OK, withoutEtag.StatusCode);
    }

    [Fact]
    public async Task UpdateApi_Grpc_StaleEtagField_IsAborted()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        var second = (await fixture.Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Second", Etag = created.Etag },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        var stale = await Assert.ThrowsAsync<RpcException>(() => fixture.Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, Name = "Third", Etag = created.Etag },
            owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        var rollback = await Assert.ThrowsAsync<RpcException>(() => fixture.Client.RollbackApiAsync(
            new RollbackApiRequest { ApiId = created.Id, Version = 1, Etag = created.Etag },
            owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        var rolledBack = (await fixture.Client.RollbackApiAsync(new RollbackApiRequest { ApiId = created.Id, Version = 1, Etag = second.Etag },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal("Second", second.Name);
        Assert.Equal(StatusCode.Aborted, stale.StatusCode);
        Assert.Equal(StatusCode.Aborted, rollback.StatusCode);
        Assert.Equal((3L, "Weather"), (rolledBack.CurrentVersion, rolledBack.Name));
    }

    [Fact]
    public async Task UpdateApi_InvalidNestedField_ProblemErrorKeyIsCamelCase()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);

        using var response = await PatchAsync(rest, $"v1/apis/{created.Id}",
            new { policies = new { healthCheck = new { path = "/health", intervalMs = 1 } } });

        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var keys = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["policies.healthCheck.intervalMs"], keys);
    }
}
