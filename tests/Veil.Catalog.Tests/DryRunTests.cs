using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Veil.ServiceDefaults.Data;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// Dry runs (docs/catalog.md, "Validating before you deploy"): validate_only answers what a create or
/// an update would do — every field error, or the changes — and stores nothing, tells no edge.
/// </summary>
public sealed class DryRunTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task DryRunUpdate_AnswersTheChanges_StoresNoVersion_RealUpdateAnswersTheSame()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var revision = await GatewayRevisionAsync();
        var update = new UpdateApiRequest
        {
            ApiId = api.Id,
            Name = "Weather 2",
            TimeoutMs = 9000,
            Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "/health" } },
            UpstreamCredentials = new UpstreamCredentials { Items = { new UpstreamCredential { Name = "X-Token", Value = "never-shown-in-a-dry-run" } } },
            ValidateOnly = true,
        };

        var dryRun = await Client.UpdateApiAsync(update, owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(["name", "timeout_ms", "upstream_credentials", "policies.health_check.path"], dryRun.Changes.Select(c => c.Field));
        Assert.Equal((JsonValueOf(api.Name), "\"Weather 2\""), (dryRun.Changes[0].Before, dryRun.Changes[0].After));
        Assert.DoesNotContain(dryRun.Changes, c => c.After.Contains("never-shown", StringComparison.Ordinal));
        Assert.Equal(2, dryRun.Api.CurrentVersion);
        var stored = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(1, stored.CurrentVersion);
        Assert.Equal(api.Name, stored.Name);
        Assert.Equal(revision, await GatewayRevisionAsync());

        update.ValidateOnly = false;
        var real = await Client.UpdateApiAsync(update, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Equal(2, real.Api.CurrentVersion);
        Assert.Equal(dryRun.Changes, real.Changes);

        // The same request again changes nothing, and says so.
        update.ValidateOnly = true;
        Assert.Empty((await Client.UpdateApiAsync(update, owner.Headers, CatalogFixture.Deadline, Ct)).Changes);
    }

    [Fact]
    public async Task DryRunCreate_EveryFieldErrorAtOnce_OrTheApiWithoutAnId_NothingStored()
    {
        var owner = await fixture.SignUpProviderAsync();
        var bad = new CreateApiRequest { Slug = "Not A Slug", Name = "", UpstreamUrl = "ftp://weather.example.com", TimeoutMs = -1, ValidateOnly = true };

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(bad, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["slug", "name", "upstream_url", "timeout_ms"], fields);

        var slug = CatalogFixture.UniqueSlug();
        var good = new CreateApiRequest { Slug = slug, Name = "Weather", UpstreamUrl = "https://weather.example.com", TimeoutMs = 5000, ValidateOnly = true };
        var dryRun = await Client.CreateApiAsync(good, owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal("", dryRun.Api.Id);
        Assert.Equal(slug, dryRun.Api.Slug);
        Assert.Equal(["slug", "name", "provider_id", "upstream_url", "timeout_ms"], dryRun.Changes.Select(c => c.Field));
        var mine = await Client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Empty(mine.Apis);

        // A taken slug answers as the real create would.
        var existing = await fixture.CreateApiAsync(owner);
        var taken = await Assert.ThrowsAsync<RpcException>(() =>
            Client.CreateApiAsync(new CreateApiRequest(good) { Slug = existing.Slug }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, taken.StatusCode);
    }

    [Fact]
    public async Task DryRun_OverRest_BodyField_SomeoneElsesApi404()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        using var rest = fixture.Rest(owner);

        using var response = await rest.PatchAsJsonAsync($"v1/apis/{api.Id}", new { name = "Renamed", validateOnly = true }, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("name", (string?)body["changes"]![0]!["field"]);
        Assert.Equal(1, (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api.CurrentVersion);

        var stranger = await fixture.SignUpProviderAsync();
        var refused = await Assert.ThrowsAsync<RpcException>(() => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = api.Id, Name = "Mine now", ValidateOnly = true }, stranger.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
    }

    private static string JsonValueOf(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    private async Task<long> GatewayRevisionAsync() =>
        (long)(await fixture.Catalog.Services.GetRequiredService<SqliteDatabase>().QueryAsync("SELECT revision FROM gateway_revision"))[0][0]!;
}
