using System.Net;
using System.Text.Json;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>The service's own surface: OpenAPI of the REST routes, health, metrics.</summary>
public sealed class ServiceTests(Fleet fleet)
{
    [Fact]
    public async Task OpenApiHealthAndMetrics_Served()
    {
        await using var world = World.Start(fleet, HardDates.Ordinary);
        using var rest = world.Rest();

        using var openApi = await rest.GetAsync("openapi/v1.json", Fleet.Ct);
        var document = JsonDocument.Parse(await openApi.Content.ReadAsStringAsync(Fleet.Ct)).RootElement;
        using var health = await rest.GetAsync("health", Fleet.Ct);
        var metrics = await rest.GetStringAsync("metrics", Fleet.Ct);

        Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Contains("/v1/invoices", paths);
        Assert.Contains("/v1/invoices/{invoiceId}:markPaid", paths);
        Assert.Contains("/v1/revenue", paths);
        Assert.All(paths, p => Assert.Matches("^/v1/(invoices|billing/|revenue)", p));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains("veil_billing", metrics);
    }
}
