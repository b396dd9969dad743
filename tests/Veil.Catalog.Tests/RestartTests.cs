using Grpc.Core;
using Veil.Catalog.V1;

namespace Veil.Catalog.Tests;

public sealed class RestartTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    [Fact]
    public async Task Restart_SameDataDirectory_KeepsApisVersionsAndRevision()
    {
        var ct = TestContext.Current.CancellationToken;
        var owner = await fixture.SignUpProviderAsync();
        var data = Directory.CreateTempSubdirectory("veil-catalog-restart-").FullName;
        try
        {
            Api before;
            GatewayConfig configBefore;
            await using (var first = fixture.NewCatalogHost(data))
            {
                using var channel = first.CreateGrpcChannel();
                var client = new CatalogService.CatalogServiceClient(channel);
                var created = (await client.CreateApiAsync(new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Durable", UpstreamUrl = "https://durable.example.com" },
                    owner.Headers, CatalogFixture.Deadline, ct)).Api;
                before = (await client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Description = "v2" }, owner.Headers, CatalogFixture.Deadline, ct)).Api;
                configBefore = await FirstConfigAsync(client, ct);
            }

            await using var second = fixture.NewCatalogHost(data);
            using var secondChannel = second.CreateGrpcChannel();
            var restarted = new CatalogService.CatalogServiceClient(secondChannel);

            var after = (await restarted.GetApiAsync(new GetApiRequest { ApiId = before.Slug }, owner.Headers, CatalogFixture.Deadline, ct)).Api;
            Assert.Equal(before, after);
            var versions = (await restarted.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = before.Id }, owner.Headers, CatalogFixture.Deadline, ct)).Versions;
            Assert.Equal([2L, 1L], versions.Select(v => v.Version).ToArray());
            Assert.Equal(configBefore, await FirstConfigAsync(restarted, ct));
            // The revision keeps counting up from where it was, so edges never see it go back.
            await restarted.UpdateApiAsync(new UpdateApiRequest { ApiId = before.Id, Description = "v3" }, owner.Headers, CatalogFixture.Deadline, ct);
            Assert.Equal(configBefore.Revision + 1, (await FirstConfigAsync(restarted, ct)).Revision);
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the temp folder is cleaned anyway.
            }
        }
    }

    private static async Task<GatewayConfig> FirstConfigAsync(CatalogService.CatalogServiceClient client, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        using var call = client.WatchAs("restart-test", cts.Token);
        Assert.True(await call.ResponseStream.MoveNext(cts.Token));
        return call.ResponseStream.Current;
    }
}
