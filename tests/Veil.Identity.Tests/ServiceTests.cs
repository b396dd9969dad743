using System.Net;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>What every Veil service serves besides its RPCs.</summary>
public sealed class ServiceTests(IdentityFixture fixture) : IClassFixture<IdentityFixture>
{
    [Fact]
    public async Task Health_DatabaseReady_Returns200()
    {
        var response = await fixture.Rest.GetAsync("health", Api.Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task OpenApi_Served_DescribesPublicRpcsOnly()
    {
        var document = await fixture.Rest.GetStringAsync("openapi/v1.json", Api.Ct);

        Assert.Contains("/v1/auth/signup", document, StringComparison.Ordinal);
        Assert.Contains("/v1/keys", document, StringComparison.Ordinal);
        Assert.DoesNotContain("ValidateApiKey", document, StringComparison.Ordinal);
        Assert.DoesNotContain(".well-known", document, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_Scraped_ReturnsPrometheusText()
    {
        var metrics = await fixture.Rest.GetStringAsync("metrics", Api.Ct);

        Assert.Contains("# ", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterValidations_CountOutcomesWithoutKeys()
    {
        var malformed = "veil_live_not-a-key";
        await fixture.Client.ValidateAsync(malformed);
        await fixture.Client.ValidateAsync(ApiKeyFormat.Generate());

        string metrics = "";
        await Eventually.HoldsAsync(async () =>
        {
            metrics = await fixture.Rest.GetStringAsync("metrics", Api.Ct);
            return metrics.Contains("veil_identity_api_key_validations_total{", StringComparison.Ordinal) &&
                metrics.Contains("veil_outcome=\"malformed\"", StringComparison.Ordinal) &&
                metrics.Contains("veil_outcome=\"unknown\"", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), "the Veil.Identity meter is exported with validation outcomes");

        Assert.DoesNotContain(malformed, metrics, StringComparison.Ordinal);
    }
}
