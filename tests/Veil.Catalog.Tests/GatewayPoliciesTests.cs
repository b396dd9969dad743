using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// The gateway policies catalog keeps in each config version (docs/policies.md): each part an
/// update sets replaces that part, the others are copied; targets replace upstream_url; bad
/// parts are refused with field errors; only the owner sees them. Each part's own rules are
/// tested next to it (targets here).
/// </summary>
public sealed class GatewayPoliciesTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    private static UpstreamTargets Targets(string loadBalancing, params (string Url, int Weight)[] targets)
    {
        var result = new UpstreamTargets { LoadBalancing = loadBalancing };
        result.Items.AddRange(targets.Select(t => new UpstreamTarget { Url = t.Url, Weight = t.Weight }));
        return result;
    }

    [Fact]
    public async Task Policies_PartsReplacedOneByOne_KeptOtherwise_TargetsShowTheirFirstAsUpstreamUrl_OwnerOnly()
    {
        var owner = await fixture.SignUpProviderAsync();
        var create = new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(),
            Name = "Weather",
            Policies = new ApiPolicies { Targets = Targets("least_requests", ("https://a.example.com", 3), ("https://b.example.com", 1)) },
        };
        var created = (await Client.CreateApiAsync(create, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal("https://a.example.com", created.UpstreamUrl);
        Assert.Equal(["https://a.example.com", "https://b.example.com"], created.Policies.Targets.Items.Select(t => t.Url).ToArray());

        // A protocol change keeps the targets; an empty part ({}) returns to the default.
        var http2 = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Policies = new ApiPolicies { Protocol = "http2" } },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(2, http2.CurrentVersion);
        Assert.Equal("http2", http2.Policies.Protocol);
        Assert.Equal("least_requests", http2.Policies.Targets.LoadBalancing);

        // The same part again changes nothing: no version.
        var same = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Policies = new ApiPolicies { Protocol = "http2" } },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(2, same.CurrentVersion);

        // While targets are kept, upstream_url alone cannot change them.
        var fields = await Expect.FieldErrorsAsync(() => Client.UpdateApiAsync(
            new UpdateApiRequest { ApiId = created.Id, UpstreamUrl = "https://c.example.com" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["upstream_url"], fields);

        var cleared = (await Client.UpdateApiAsync(new UpdateApiRequest
        {
            ApiId = created.Id,
            UpstreamUrl = "https://c.example.com",
            Policies = new ApiPolicies { Targets = new UpstreamTargets() },
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Null(cleared.Policies.Targets);
        Assert.Equal("https://c.example.com", cleared.UpstreamUrl);
        Assert.Equal("http2", cleared.Policies.Protocol);

        // Version 1 still has its targets; strangers see no policies.
        var v1 = (await Client.GetApiVersionAsync(new GetApiVersionRequest { ApiId = created.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Version;
        Assert.Equal(2, v1.Api.Policies.Targets.Items.Count);
        var anonymous = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, deadline: CatalogFixture.Deadline, cancellationToken: Ct)).Api;
        Assert.Null(anonymous.Policies);
        var stranger = await fixture.SignUpProviderAsync();
        var seen = (await Client.GetApiAsync(new GetApiRequest { ApiId = created.Id }, stranger.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Null(seen.Policies);
    }

    [Fact]
    public async Task CreateApi_BadTargets_EveryBadFieldNamed()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(),
            Name = "Weather",
            UpstreamUrl = "https://elsewhere.example.com",
            Policies = new ApiPolicies
            {
                Targets = Targets("fastest", ("https://a.example.com", 0), ("ftp://b.example.com", 1), ("https://a.example.com/", 2), ("https://c.example.com", 101)),
                Protocol = "http3",
            },
        };

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(
            ["policies.protocol", "policies.targets.items[1].url", "policies.targets.items[2].url", "policies.targets.items[3].weight",
             "policies.targets.load_balancing", "upstream_url"],
            fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task CreateApi_SeventeenTargets_Refused()
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Weather", Policies = new ApiPolicies { Targets = new UpstreamTargets() } };
        request.Policies.Targets.Items.AddRange(Enumerable.Range(0, 17).Select(i => new UpstreamTarget { Url = $"https://t{i}.example.com" }));

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["policies.targets.items"], fields);
    }
}
