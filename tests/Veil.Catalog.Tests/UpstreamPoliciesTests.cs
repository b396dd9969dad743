using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// The upstream policies catalog keeps in each config version (docs/policies.md): credentials are
/// validated with field errors and write-only, signing secrets are rotated by their owner only and
/// shown once. What the edge does with them: tests/Veil.Edge.Tests/UpstreamPolicyTests.
/// </summary>
public sealed class UpstreamPoliciesTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    [Fact]
    public async Task CreateApi_BadCredentials_EveryBadFieldNamed()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://weather.example.com" };
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "Host", Value = "evil.example.com" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "X-Api-Key", Value = "k" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "Transfer-Encoding", Value = "chunked" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "X-Token", Value = "" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "X-Token2", Value = "line\nbreak" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Location = "query", Name = "a b", Value = "v" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "X-Ok", Value = "fine", ValueHint = "set by me" });

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(
            ["upstream_credentials[0].name", "upstream_credentials[1].name", "upstream_credentials[2].name", "upstream_credentials[3].value",
             "upstream_credentials[4].value", "upstream_credentials[5].name", "upstream_credentials[6].value_hint"],
            fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task CreateApi_MoreThanTenCredentials_Refused()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://weather.example.com" };
        request.UpstreamCredentials.AddRange(Enumerable.Range(0, 11).Select(i => new UpstreamCredential { Name = $"X-Token-{i}", Value = "v" }));

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["upstream_credentials"], fields);
    }

    [Fact]
    public async Task Credentials_WriteOnly_HintsInEveryRead_KeptByUnrelatedUpdates_ClearedByAnEmptyList()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://weather.example.com" };
        request.UpstreamCredentials.Add(new UpstreamCredential { Name = "Authorization", Value = "Bearer a-long-provider-token-XYZ9" });
        request.UpstreamCredentials.Add(new UpstreamCredential { Location = "query", Name = "key", Value = "short" });
        var created = (await Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(["Bear…XYZ9", "••••"], created.UpstreamCredentials.Select(c => c.ValueHint).ToArray());
        Assert.All(created.UpstreamCredentials, c => Assert.Empty(c.Value));
        Assert.Equal(["header", "query"], created.UpstreamCredentials.Select(c => c.Location).ToArray());

        var renamed = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Name = "Renamed" }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(2, renamed.UpstreamCredentials.Count);
        var get = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var version = (await Client.GetApiVersionAsync(new GetApiVersionRequest { ApiId = created.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Version;
        var versions = (await Client.ListApiVersionsAsync(new ListApiVersionsRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Versions;
        foreach (var api in new[] { get, version.Api }.Concat(versions.Select(v => v.Api)))
        {
            Assert.Equal(["Bear…XYZ9", "••••"], api.UpstreamCredentials.Select(c => c.ValueHint).ToArray());
            Assert.DoesNotContain("a-long-provider-token", api.ToString(), StringComparison.Ordinal);
        }
        // Strangers see neither the credentials nor their hints.
        var anonymous = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct)).Api;
        Assert.Empty(anonymous.UpstreamCredentials);

        var cleared = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, UpstreamCredentials = new UpstreamCredentials() },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Empty(cleared.UpstreamCredentials);
        Assert.Equal(3, cleared.CurrentVersion);
    }

    [Fact]
    public async Task RotateSigningSecret_OwnerGetsItOnce_OthersNotFound()
    {
        var owner = await fixture.SignUpProviderAsync();
        var other = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var created = await fixture.CreateApiAsync(owner);
        Assert.False(created.SignedCalls);

        var first = await Client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct);
        Assert.Matches("^vsig_[A-Za-z0-9_-]{43}$", first.SigningSecret);
        Assert.True(first.Api.SignedCalls);
        Assert.Null(first.Api.PreviousSigningSecretExpireTime);
        var second = await Client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = created.Slug }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct);
        Assert.NotEqual(first.SigningSecret, second.SigningSecret);
        Assert.NotNull(second.Api.PreviousSigningSecretExpireTime);
        Assert.Equal(3, second.Api.CurrentVersion);

        var read = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api.ToString();
        Assert.DoesNotContain(second.SigningSecret, read, StringComparison.Ordinal);
        Assert.DoesNotContain(first.SigningSecret, read, StringComparison.Ordinal);
        foreach (var stranger in new[] { other, consumer })
        {
            await Expect.StatusAsync(StatusCode.NotFound, () =>
                Client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = created.Id }, stranger.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        }
        await Expect.StatusAsync(StatusCode.Unauthenticated, () =>
            Client.RotateApiSigningSecretAsync(new RotateApiSigningSecretRequest { ApiId = created.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);
    }
}
