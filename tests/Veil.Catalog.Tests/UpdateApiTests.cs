using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Data.Sqlite;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

public sealed class UpdateApiTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task UpdateApi_Owner_WritesNewVersionAndKeepsHistory()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner, name: "Weather");

        var second = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Weather Pro", TimeoutMs = 0 },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var third = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Slug, UpstreamUrl = "https://v2.weather.example.com" },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(2, second.CurrentVersion);
        Assert.Equal("Weather Pro", second.Name);
        Assert.Equal(30_000, second.TimeoutMs);
        Assert.Equal(created.UpstreamUrl, second.UpstreamUrl);
        Assert.Equal(3, third.CurrentVersion);
        Assert.Equal("Weather Pro", third.Name);
        Assert.Equal("https://v2.weather.example.com", third.UpstreamUrl);
        Assert.Equal(created.OpenapiDocument, third.OpenapiDocument);
        Assert.Equal(created.CreateTime, third.CreateTime);

        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Versions;
        Assert.Equal([3L, 2L, 1L], versions.Select(v => v.Version).ToArray());
        Assert.All(versions, v => Assert.Equal(owner.Id, v.CreatedBy));
        Assert.Equal(("Weather", "https://weather.example.com/v1", 5000), (versions[2].Api.Name, versions[2].Api.UpstreamUrl, versions[2].Api.TimeoutMs));
        Assert.Equal(("Weather Pro", "https://weather.example.com/v1", 30_000), (versions[1].Api.Name, versions[1].Api.UpstreamUrl, versions[1].Api.TimeoutMs));
        Assert.Equal(("Weather Pro", "https://v2.weather.example.com", 30_000), (versions[0].Api.Name, versions[0].Api.UpstreamUrl, versions[0].Api.TimeoutMs));
        Assert.Equal(1, versions[2].Api.CurrentVersion);
        // List items leave the document out; GetApiVersion returns it.
        var withoutDocument = created.Clone();
        withoutDocument.OpenapiDocument = "";
        Assert.Equal(withoutDocument, versions[2].Api);
        var first = (await Client.GetApiVersionAsync(new GetApiVersionRequest { ApiId = created.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Version;
        Assert.Equal(created, first.Api);

        var current = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Slug }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(third, current);
    }

    [Fact]
    public async Task UpdateApi_Rest_PatchChangesOnlyGivenFields()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner, description: "Old");
        using var rest = fixture.Rest(owner);

        using var response = await rest.PatchAsJsonAsync($"v1/apis/{created.Id}", new { description = "New" }, Ct);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        var api = body.GetProperty("api");
        Assert.Equal("New", api.GetProperty("description").GetString());
        Assert.Equal(created.Name, api.GetProperty("name").GetString());
        Assert.Equal("2", api.GetProperty("currentVersion").GetRawText().Trim('"'));

        using var versions = await rest.GetAsync($"v1/apis/{created.Slug}/versions", Ct);
        var list = await versions.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(2, list.GetProperty("versions").GetArrayLength());
    }

    [Fact]
    public async Task UpdateApi_NothingChanges_KeepsVersion()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner, name: "Same");

        var updated = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Same" }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(1, updated.CurrentVersion);
        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Versions;
        Assert.Single(versions);
    }

    [Fact]
    public async Task UpdateApi_OtherProvider_NotFound()
    {
        var owner = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, Name = "Mine now" }, other.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.ListApiVersionsAsync(
            new ListApiVersionsRequest { ApiId = created.Slug }, other.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        using var rest = fixture.Rest(other);
        using var response = await rest.PatchAsJsonAsync($"v1/apis/{created.Id}", new { name = "Mine now" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
        using var versions = await rest.GetAsync($"v1/apis/{created.Id}/versions", Ct);
        await Expect.ProblemAsync(versions, HttpStatusCode.NotFound);

        var unchanged = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(created, unchanged);
    }

    [Fact]
    public async Task UpdateApi_Consumer_NotFound()
    {
        var owner = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var created = await fixture.CreateApiAsync(owner);

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, Name = "x" }, consumer.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.ListApiVersionsAsync(
            new ListApiVersionsRequest { ApiId = created.Id }, consumer.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
    }

    [Fact]
    public async Task UpdateApi_Anonymous_Unauthenticated()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);

        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, Name = "x" }, deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.ListApiVersionsAsync(
            new ListApiVersionsRequest { ApiId = created.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        using var rest = fixture.Rest();
        using var response = await rest.PatchAsJsonAsync($"v1/apis/{created.Id}", new { name = "x" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task UpdateApi_Unknown_NotFound()
    {
        var owner = await fixture.SignUpProviderAsync();

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = "api_doesnotexist000000", Name = "x" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = "no-such-slug", Name = "x" }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
    }

    [Fact]
    public async Task UpdateApi_Admin_ChangesAnyApi()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);

        var updated = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, TimeoutMs = 250 }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(250, updated.TimeoutMs);
        Assert.Equal(owner.Id, updated.ProviderId);
        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Versions;
        Assert.Equal([fixture.Admin.Id, owner.Id], versions.Select(v => v.CreatedBy).ToArray());
    }

    [Fact]
    public async Task UpdateApi_InvalidFields_ReportsEveryOneAndChangesNothing()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);

        var fields = await Expect.FieldErrorsAsync(() => Client.UpdateApiAsync(new UpdateApiRequest
        {
            ApiId = created.Id,
            Name = "",
            Description = new string('d', 10_001),
            UpstreamUrl = "http://169.254.169.254",
            TimeoutMs = 120_001,
            OpenapiDocument = new string('o', 1024 * 1024 + 1),
        }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["description", "name", "openapi_document", "timeout_ms", "upstream_url"], fields.Order().ToArray());

        using var rest = fixture.Rest(owner);
        using var response = await rest.PatchAsJsonAsync($"v1/apis/{created.Id}", new { upstreamUrl = "https://user:pw@weather.example.com", timeoutMs = 1 }, Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["timeoutMs", "upstreamUrl"], Expect.ProblemFields(problem).Order().ToArray());

        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Versions;
        Assert.Single(versions);
    }

    [Fact]
    public async Task UpdateApi_MissingApiId_FieldError()
    {
        var owner = await fixture.SignUpProviderAsync();

        var fields = await Expect.FieldErrorsAsync(() => Client.UpdateApiAsync(new UpdateApiRequest { Name = "x" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["api_id"], fields);
    }

    [Fact]
    public async Task ApiVersions_UpdatedInTheDatabase_Refused()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        var path = Path.Combine(fixture.Catalog.DataDirectory, "catalog.db");

        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE api_versions SET upstream_url = 'https://evil.example' WHERE api_id = $id;";
        command.Parameters.AddWithValue("$id", created.Id);

        var ex = await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync(Ct));
        Assert.Contains("immutable", ex.Message);
    }
}
