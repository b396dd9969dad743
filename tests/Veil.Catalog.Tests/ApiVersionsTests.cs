using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>An API's version history: paged, without documents in the list, capped per API.</summary>
public sealed class ApiVersionsTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task ListApiVersions_150VersionsWithLargeDocuments_PagesStaySmall_EachVersionOnce()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        // 150 versions of 64 KiB documents: ~10 MB of history, more than a gRPC client accepts in
        // one message (4 MB), as the whole list used to be.
        var padding = new string('x', 64 * 1024);
        for (var i = 2; i <= 150; i++)
        {
            await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, OpenapiDocument = $"{{\"v\":{i},\"pad\":\"{padding}\"}}" },
                owner.Headers, CatalogFixture.Deadline, Ct);
        }

        var seen = new List<long>();
        var token = "";
        var pages = 0;
        do
        {
            var page = await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Slug, PageToken = token, PageSize = 100 },
                owner.Headers, CatalogFixture.Deadline, Ct);
            // A page holds no document: 100 versions stay far below one document's size.
            Assert.True(page.CalculateSize() < 32 * 1024, $"a page of {page.Versions.Count} versions is {page.CalculateSize()} bytes");
            Assert.All(page.Versions, v => Assert.Empty(v.Api.OpenapiDocument));
            seen.AddRange(page.Versions.Select(v => v.Version));
            token = page.NextPageToken;
            Assert.True(++pages <= 2, "more pages than 150 versions need");
        }
        while (token.Length > 0);

        Assert.Equal(Enumerable.Range(1, 150).Reverse().Select(v => (long)v), seen);

        // One version's document, on its own.
        var version = (await Client.GetApiVersionAsync(new GetApiVersionRequest { ApiId = created.Id, Version = 77 },
            owner.Headers, CatalogFixture.Deadline, Ct)).Version;
        Assert.Equal(77, version.Version);
        Assert.StartsWith("{\"v\":77,", version.Api.OpenapiDocument, StringComparison.Ordinal);
        Assert.Equal(77, version.Api.CurrentVersion);
    }

    [Fact]
    public async Task ListApiVersions_DefaultPage_Fifty_NewestFirst()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        for (var i = 2; i <= 51; i++)
        {
            await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = $"Name {i}" }, owner.Headers, CatalogFixture.Deadline, Ct);
        }

        var first = await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct);
        var second = await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id, PageToken = first.NextPageToken },
            owner.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(Enumerable.Range(2, 50).Reverse().Select(v => (long)v), first.Versions.Select(v => v.Version));
        Assert.Equal([1L], second.Versions.Select(v => v.Version));
        Assert.Empty(second.NextPageToken);
    }

    [Fact]
    public async Task ListApiVersions_BadPaging_FieldErrorOnPageToken()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);
        var other = await fixture.CreateApiAsync(owner);
        await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = other.Id, Name = "Two" }, owner.Headers, CatalogFixture.Deadline, Ct);
        var otherToken = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = other.Id, PageSize = 1 },
            owner.Headers, CatalogFixture.Deadline, Ct)).NextPageToken;
        Assert.NotEmpty(otherToken);
        var listApisToken = Veil.ServiceDefaults.Grpc.PageToken.Encode("ListApis", "some-slug");

        foreach (var token in new[] { "not a token!", listApisToken, otherToken })
        {
            var fields = await Expect.FieldErrorsAsync(() => Client.ListApiVersionsAsync(
                new ListApiVersionsRequest { ApiId = created.Id, PageToken = token }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
            Assert.Equal(["page_token"], fields);
        }
        var sizes = await Expect.FieldErrorsAsync(() => Client.ListApiVersionsAsync(
            new ListApiVersionsRequest { ApiId = created.Id, PageSize = 101 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["page_size"], sizes);
    }

    [Fact]
    public async Task GetApiVersion_OtherProviderOrNoSuchVersion_NotFound_OverRestToo()
    {
        var owner = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner);

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetApiVersionAsync(
            new GetApiVersionRequest { ApiId = created.Id, Version = 1 }, other.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetApiVersionAsync(
            new GetApiVersionRequest { ApiId = created.Id, Version = 2 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["version"], await Expect.FieldErrorsAsync(() => Client.GetApiVersionAsync(
            new GetApiVersionRequest { ApiId = created.Id, Version = 0 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync));

        using var rest = fixture.Rest(owner);
        var json = await rest.GetFromJsonAsync<JsonElement>($"v1/apis/{created.Slug}/versions/1", Ct);
        Assert.Equal(created.OpenapiDocument, json.GetProperty("version").GetProperty("api").GetProperty("openapiDocument").GetString());
    }

    [Fact]
    public async Task UpdateApi_VersionCapReached_FailedPreconditionAndNothingStored()
    {
        await using var catalog = fixture.NewCatalogHost().With("Catalog:MaxVersionsPerApi", "3").Start();
        using var channel = catalog.CreateGrpcChannel();
        var client = new CatalogService.CatalogServiceClient(channel);
        var owner = await fixture.SignUpProviderAsync();
        var created = (await client.CreateApiAsync(new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(), Name = "Capped", UpstreamUrl = "https://capped.example.com", TimeoutMs = 1000,
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Two" }, owner.Headers, CatalogFixture.Deadline, Ct);
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Three" }, owner.Headers, CatalogFixture.Deadline, Ct);

        var error = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, Name = "Four" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Contains("Catalog:MaxVersionsPerApi", error.Status.Detail, StringComparison.Ordinal);
        var current = (await client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal((3L, "Three"), (current.CurrentVersion, current.Name));
        // An update that changes nothing still answers: it would store no version.
        var same = (await client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Three" }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(3, same.CurrentVersion);
    }
}
