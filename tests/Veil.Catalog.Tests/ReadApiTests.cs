using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

public sealed class ReadApiTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task GetApi_ByIdOrSlug_PublicWithoutProviderSecrets()
    {
        var owner = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var created = await fixture.CreateApiAsync(owner);

        var anonymous = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Slug }, deadline: CatalogFixture.Deadline, cancellationToken: Ct)).Api;
        var byConsumer = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, consumer.Headers, CatalogFixture.Deadline, Ct)).Api;
        var byOther = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, other.Headers, CatalogFixture.Deadline, Ct)).Api;
        var byOwner = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Slug }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var byAdmin = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Api;

        var hidden = created.Clone();
        hidden.UpstreamUrl = "";
        hidden.OpenapiDocument = "";
        hidden.Policies = null;
        // Release names and states are public; their upstreams and policies are not.
        hidden.Releases[0].UpstreamUrl = "";
        hidden.Releases[0].Policies = null;
        Assert.Equal(hidden, anonymous);
        Assert.Equal(hidden, byConsumer);
        Assert.Equal(hidden, byOther);
        Assert.Equal(created, byOwner);
        Assert.Equal(created, byAdmin);

        using var rest = fixture.Rest();
        var json = await rest.GetFromJsonAsync<JsonElement>($"v1/apis/{created.Slug}", Ct);
        Assert.Equal(created.Id, json.GetProperty("api").GetProperty("id").GetString());
        Assert.Equal("", json.GetProperty("api").TryGetProperty("upstreamUrl", out var upstream) ? upstream.GetString() : "");
    }

    [Fact]
    public async Task GetApi_Unknown_NotFound()
    {
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetApiAsync(
            new GetApiRequest { ApiId = "api_00000000000000000000" }, deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        using var rest = fixture.Rest();
        using var response = await rest.GetAsync("v1/apis/no-such-api", Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task GetApi_Empty_FieldError()
    {
        var fields = await Expect.FieldErrorsAsync(() => Client.GetApiAsync(new GetApiRequest(), deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(["api_id"], fields);
    }

    [Fact]
    public async Task ListApis_Paging_VisitsEveryApiOnceInSlugOrder()
    {
        var owner = await fixture.SignUpProviderAsync();
        var prefix = "p" + Guid.NewGuid().ToString("N")[..8];
        var slugs = new[] { "e", "a", "d", "c", "b" }.Select(s => $"{prefix}-{s}").ToArray();
        foreach (var slug in slugs)
        {
            await fixture.CreateApiAsync(owner, slug);
        }

        var seen = new List<string>();
        var pages = 0;
        var token = "";
        do
        {
            var page = await Client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id, PageSize = 2, PageToken = token },
                deadline: CatalogFixture.Deadline, cancellationToken: Ct);
            Assert.True(page.Apis.Count <= 2);
            seen.AddRange(page.Apis.Select(a => a.Slug));
            token = page.NextPageToken;
            pages++;
            Assert.True(pages <= 3, "more pages than APIs allow");
        }
        while (token.Length > 0);

        Assert.Equal(slugs.Order(StringComparer.Ordinal).ToArray(), seen.ToArray());
        Assert.Equal(3, pages);
    }

    [Fact]
    public async Task ListApis_DefaultPageSize_Fifty()
    {
        var owner = await fixture.SignUpProviderAsync();
        for (var i = 0; i < 51; i++)
        {
            await fixture.CreateApiAsync(owner);
        }

        var first = await Client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct);
        var second = await Client.ListApisAsync(new ListApisRequest { ProviderId = owner.Id, PageToken = first.NextPageToken }, deadline: CatalogFixture.Deadline, cancellationToken: Ct);

        Assert.Equal(50, first.Apis.Count);
        Assert.NotEmpty(first.NextPageToken);
        Assert.Single(second.Apis);
        Assert.Empty(second.NextPageToken);
    }

    [Fact]
    public async Task ListApis_Query_CaseInsensitiveOverSlugNameAndDescription()
    {
        var owner = await fixture.SignUpProviderAsync();
        var word = "zq" + Guid.NewGuid().ToString("N")[..10];
        var bySlug = await fixture.CreateApiAsync(owner, slug: $"{word}-slug");
        var byName = await fixture.CreateApiAsync(owner, name: $"The {word.ToUpperInvariant()} Name");
        var byDescription = await fixture.CreateApiAsync(owner, description: $"Contains **{word}** somewhere.");
        var unrelated = await fixture.CreateApiAsync(owner);

        var found = await Client.ListApisAsync(new ListApisRequest { Query = word.ToUpperInvariant()[..8] + word[8..] }, deadline: CatalogFixture.Deadline, cancellationToken: Ct);

        Assert.Equal(new[] { bySlug.Id, byName.Id, byDescription.Id }.Order().ToArray(), found.Apis.Select(a => a.Id).Order().ToArray());
        Assert.DoesNotContain(found.Apis, a => a.Id == unrelated.Id);
        Assert.All(found.Apis, a => Assert.Empty(a.UpstreamUrl));

        using var rest = fixture.Rest();
        var json = await rest.GetFromJsonAsync<JsonElement>($"v1/apis?query={word}&pageSize=100", Ct);
        Assert.Equal(3, json.GetProperty("apis").GetArrayLength());
    }

    [Fact]
    public async Task ListApis_Query_FoldsNonAsciiCase()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = await fixture.CreateApiAsync(owner, name: "ÄRGERLICH Ωmega " + Guid.NewGuid().ToString("N"));

        var found = await Client.ListApisAsync(new ListApisRequest { Query = "ärgerlich ωmega", ProviderId = owner.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct);

        Assert.Equal([created.Id], found.Apis.Select(a => a.Id).ToArray());
    }

    [Fact]
    public async Task ListApis_ProviderFilter_OnlyThatProvider()
    {
        var first = await fixture.SignUpProviderAsync();
        var second = await fixture.SignUpProviderAsync();
        var mine = await fixture.CreateApiAsync(first);
        await fixture.CreateApiAsync(second);

        var list = await Client.ListApisAsync(new ListApisRequest { ProviderId = first.Id }, first.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal([mine.Id], list.Apis.Select(a => a.Id).ToArray());
        Assert.Equal(mine.UpstreamUrl, list.Apis[0].UpstreamUrl); // the owner sees its upstream
        Assert.Empty(list.Apis[0].OpenapiDocument);               // lists leave documents out
    }

    [Theory]
    [InlineData(101, "", "page_size")]
    [InlineData(-1, "", "page_size")]
    [InlineData(0, "not a token!", "page_token")]
    [InlineData(0, "c2x1Zz0=", "page_token")] // base64 of something that is not ours
    public async Task ListApis_BadPaging_FieldError(int pageSize, string pageToken, string field)
    {
        var fields = await Expect.FieldErrorsAsync(() => Client.ListApisAsync(
            new ListApisRequest { PageSize = pageSize, PageToken = pageToken }, deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        Assert.Equal([field], fields);
    }

    [Fact]
    public async Task ListApis_BadPagingOverRest_ProblemNamesFields()
    {
        using var rest = fixture.Rest();

        using var response = await rest.GetAsync("v1/apis?pageSize=500&pageToken=%25%25", Ct);

        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["pageSize", "pageToken"], Expect.ProblemFields(problem).Order().ToArray());
    }
}
