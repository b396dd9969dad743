using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// Diffing two versions of an API (docs/catalog.md, "Comparing versions"): field by field, secrets
/// masked, the owner and admins only; over REST at GET /v1/apis/{api_id}/versions/{version}:diff.
/// </summary>
public sealed class DiffTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task Diff_FieldByField_SecretsMasked_BookkeepingLeftOut_OverRestToo()
    {
        var owner = await fixture.SignUpProviderAsync();
        var create = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://v1.weather.example.com", TimeoutMs = 5000 };
        var v1 = (await Client.CreateApiAsync(create, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var update = new UpdateApiRequest
        {
            ApiId = v1.Id,
            UpstreamUrl = "https://v2.weather.example.com",
            Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "/health", IntervalMs = 5000 } },
            UpstreamCredentials = new UpstreamCredentials(),
        };
        update.UpstreamCredentials.Items.Add(new UpstreamCredential { Name = "X-Token", Value = "a-long-secret-credential-XYZ9" });
        await Client.UpdateApiAsync(update, owner.Headers, CatalogFixture.Deadline, Ct);

        var diff = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = v1.Id, Version = 2 }, owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal((1L, 2L), (diff.FromVersion, diff.ToVersion));
        Assert.Equal(["upstream_url", "upstream_credentials", "policies.health_check.path", "policies.health_check.interval_ms"],
            diff.Changes.Select(c => c.Field).ToArray());
        Assert.Equal(("\"https://v1.weather.example.com\"", "\"https://v2.weather.example.com\""), (diff.Changes[0].Before, diff.Changes[0].After));
        Assert.Equal(("", "5000"), (diff.Changes[3].Before, diff.Changes[3].After));
        Assert.DoesNotContain("secret-credential", diff.ToString(), StringComparison.Ordinal);
        Assert.Contains("a-lo…XYZ9", diff.Changes[1].After, StringComparison.Ordinal);

        // Backwards too, and over REST as documented.
        using var rest = fixture.Rest(owner);
        using var response = await rest.GetAsync($"v1/apis/{v1.Slug}/versions/1:diff?otherVersion=2", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        var body = JsonNode.Parse(text)!;
        Assert.Equal("2", body["fromVersion"]!.ToString());
        Assert.Equal("\"https://v1.weather.example.com\"", body["changes"]![0]!["after"]!.GetValue<string>());

        // A version against itself: nothing differs.
        var same = await Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = v1.Id, Version = 2, OtherVersion = 2 }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Empty(same.Changes);
    }

    [Fact]
    public async Task Diff_SomeoneElsesApi_NotFound_BadVersions_FieldErrors()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var stranger = await fixture.SignUpProviderAsync();

        var refused = await Assert.ThrowsAsync<RpcException>(() =>
            Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 1, OtherVersion = 1 }, stranger.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 1, OtherVersion = 7 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        var fields = await Expect.FieldErrorsAsync(() =>
            Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["other_version"], fields);
        fields = await Expect.FieldErrorsAsync(() =>
            Client.DiffApiVersionsAsync(new DiffApiVersionsRequest { ApiId = api.Id, Version = 0, OtherVersion = -1 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["other_version", "version"], fields.Order(StringComparer.Ordinal).ToArray());
    }
}
