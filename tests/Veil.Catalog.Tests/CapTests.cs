using Grpc.Core;
using Veil.Catalog.V1;

namespace Veil.Catalog.Tests;

/// <summary>Per-account caps: APIs per provider and versions per API (configurable).</summary>
public sealed class CapTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CreateApiRequest NewApi() => new()
    {
        Slug = CatalogFixture.UniqueSlug("cap"),
        Name = "Weather",
        Description = "Forecasts.",
        UpstreamUrl = "https://weather.example.com/v1",
        TimeoutMs = 5000,
    };

    [Fact]
    public async Task CreateApi_BeyondMaxApisPerProvider_FailedPreconditionNamingTheSetting()
    {
        await using var host = fixture.NewCatalogHost();
        host.With("Catalog:MaxApisPerProvider", "2");
        using var channel = host.CreateGrpcChannel();
        var client = new CatalogService.CatalogServiceClient(channel);
        var provider = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        await client.CreateApiAsync(NewApi(), provider.Headers, CatalogFixture.Deadline, Ct);
        await client.CreateApiAsync(NewApi(), provider.Headers, CatalogFixture.Deadline, Ct);

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.CreateApiAsync(NewApi(), provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        var othersApi = await client.CreateApiAsync(NewApi(), other.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("Catalog:MaxApisPerProvider", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(other.Id, othersApi.Api.ProviderId);
    }

    [Fact]
    public async Task UpdateApi_BeyondMaxVersionsPerApi_FailedPreconditionNamingTheSetting()
    {
        await using var host = fixture.NewCatalogHost();
        host.With("Catalog:MaxVersionsPerApi", "2");
        using var channel = host.CreateGrpcChannel();
        var client = new CatalogService.CatalogServiceClient(channel);
        var provider = await fixture.SignUpProviderAsync();
        var api = (await client.CreateApiAsync(NewApi(), provider.Headers, CatalogFixture.Deadline, Ct)).Api;
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Weather 2" }, provider.Headers, CatalogFixture.Deadline, Ct);

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Weather 3" }, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        // An update that changes nothing stores no version, so it still succeeds.
        var unchanged = await client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Weather 2" }, provider.Headers, CatalogFixture.Deadline, Ct);

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("Catalog:MaxVersionsPerApi", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(2, unchanged.Api.CurrentVersion);
    }
}
