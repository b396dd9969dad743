using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// Rolling an API back (docs/catalog.md, "Rolling back"): an earlier version's configuration
/// becomes a new version, the secrets stay as they are now, and only the owner or an admin can.
/// </summary>
public sealed class RollbackTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task Rollback_RestoresTheVersionsConfigAsANewVersion_KeepsTheSecretsOfNow()
    {
        var owner = await fixture.SignUpProviderAsync();
        var create = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://v1.weather.example.com", TimeoutMs = 5000 };
        var v1 = (await Client.CreateApiAsync(create, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        var update = new UpdateApiRequest
        {
            ApiId = v1.Id,
            Name = "Weather 2",
            UpstreamUrl = "https://v2.weather.example.com",
            Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "/health" } },
            UpstreamCredentials = new UpstreamCredentials(),
        };
        update.UpstreamCredentials.Items.Add(new UpstreamCredential { Name = "X-Token", Value = "a-credential-set-in-version-two" });
        var v2 = (await Client.UpdateApiAsync(update, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var v3 = (await Client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = v1.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(3, v3.CurrentVersion);

        var rolledBack = (await Client.RollbackApiAsync(new RollbackApiRequest { ApiId = v1.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(4, rolledBack.CurrentVersion);
        Assert.Equal("Weather", rolledBack.Name);
        Assert.Equal("https://v1.weather.example.com", rolledBack.UpstreamUrl);
        Assert.Null(rolledBack.Policies?.HealthCheck);
        // The secrets are today's: the credential of version 2 and the signing secret of version 3.
        Assert.Equal(["X-Token"], rolledBack.UpstreamCredentials.Select(c => c.Name).ToArray());
        Assert.True(rolledBack.SignedCalls);

        // History is kept, and the rollback can itself be undone.
        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = v1.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Versions;
        Assert.Equal([4L, 3L, 2L, 1L], versions.Select(v => v.Version).ToArray());
        var forward = (await Client.RollbackApiAsync(new RollbackApiRequest { ApiId = v1.Slug, Version = 2 }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(5, forward.CurrentVersion);
        Assert.Equal(v2.UpstreamUrl, forward.UpstreamUrl);
        Assert.Equal("/health", forward.Policies.HealthCheck.Path);

        // To what is already current: no version.
        var again = (await Client.RollbackApiAsync(new RollbackApiRequest { ApiId = v1.Id, Version = 2 }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(5, again.CurrentVersion);
    }

    [Fact]
    public async Task Rollback_SomeoneElsesApiOrAMissingVersion_NotFound_BadVersion_FieldError()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        var stranger = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        foreach (var caller in new[] { stranger, consumer })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                Client.RollbackApiAsync(new RollbackApiRequest { ApiId = api.Id, Version = 1 }, caller.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        }
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            Client.RollbackApiAsync(new RollbackApiRequest { ApiId = api.Id, Version = 99 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        var fields = await Expect.FieldErrorsAsync(() =>
            Client.RollbackApiAsync(new RollbackApiRequest { ApiId = api.Id, Version = 0 }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["version"], fields);

        var current = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(api.CurrentVersion, current.CurrentVersion);
    }
}
