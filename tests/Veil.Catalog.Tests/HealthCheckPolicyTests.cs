using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// policies.health_check (docs/load-balancing-and-health.md): the rules of each field, the
/// defaults (0) accepted, an empty part turning checks off.
/// </summary>
public sealed class HealthCheckPolicyTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    private async Task<string[]> FieldErrorsAsync(HealthCheckPolicy health)
    {
        var owner = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(),
            Name = "Weather",
            UpstreamUrl = "https://weather.example.com",
            Policies = new ApiPolicies { HealthCheck = health },
        };
        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(request, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        return fields.Order(StringComparer.Ordinal).ToArray();
    }

    [Fact]
    public async Task CreateApi_EveryHealthCheckFieldOutOfRange_EachNamed()
    {
        var fields = await FieldErrorsAsync(new HealthCheckPolicy
        {
            Path = "health",
            IntervalMs = 999,
            TimeoutMs = 60_001,
            HealthyThreshold = 11,
            UnhealthyThreshold = -1,
        });

        Assert.Equal(
            ["policies.health_check.healthy_threshold", "policies.health_check.interval_ms", "policies.health_check.path",
             "policies.health_check.timeout_ms", "policies.health_check.unhealthy_threshold"],
            fields);
    }

    [Theory]
    [InlineData("/health?full=1")]
    [InlineData("/health#x")]
    [InlineData("/he alth")]
    [InlineData("/health%2")]
    [InlineData("/héalth")]
    [InlineData("//evil.example.com\\x")]
    public async Task CreateApi_BadHealthCheckPath_Refused(string path)
    {
        Assert.Equal(["policies.health_check.path"], await FieldErrorsAsync(new HealthCheckPolicy { Path = path }));
    }

    [Fact]
    public async Task CreateApi_HealthCheckFieldsWithoutPath_PathRequired()
    {
        Assert.Equal(["policies.health_check.path"], await FieldErrorsAsync(new HealthCheckPolicy { IntervalMs = 5000 }));
    }

    [Theory]
    [InlineData(5000, 5000)]   // equal to the interval
    [InlineData(1000, 0)]      // the default timeout (2000) is not below a 1000 ms interval
    [InlineData(0, 10_000)]    // nor a 10 s timeout below the default interval (10000)
    public async Task CreateApi_TimeoutNotBelowInterval_Refused(int intervalMs, int timeoutMs)
    {
        Assert.Equal(["policies.health_check.timeout_ms"],
            await FieldErrorsAsync(new HealthCheckPolicy { Path = "/health", IntervalMs = intervalMs, TimeoutMs = timeoutMs }));
    }

    [Fact]
    public async Task CreateApi_GoodHealthCheck_KeptAsSent_EmptyPartTurnsItOff()
    {
        var owner = await fixture.SignUpProviderAsync();
        var health = new HealthCheckPolicy { Path = "/status/live;v=1", IntervalMs = 1000, TimeoutMs = 100, HealthyThreshold = 1, UnhealthyThreshold = 10 };
        var created = (await Client.CreateApiAsync(new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(),
            Name = "Weather",
            UpstreamUrl = "https://weather.example.com",
            Policies = new ApiPolicies { HealthCheck = health },
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(health, created.Policies.HealthCheck);

        var defaults = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy { Path = "/health" } } },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(new HealthCheckPolicy { Path = "/health" }, defaults.Policies.HealthCheck);

        var off = (await Client.UpdateApiAsync(new UpdateApiRequest { ApiId = created.Id, Policies = new ApiPolicies { HealthCheck = new HealthCheckPolicy() } },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Null(off.Policies?.HealthCheck);
    }
}
