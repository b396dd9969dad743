using System.Net;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// Readiness means "holds a route snapshot": an edge whose catalog is not there yet answers 503 on
/// <c>/health</c> (alive on <c>/alive</c>), and 200 once catalog comes up and the first snapshot is applied.
/// </summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Health_BeforeFirstSnapshot_NotReady_AfterCatalogStarts_Ready()
    {
        var ct = TestContext.Current.CancellationToken;
        // Ports are chosen now; the control plane starts later, on them.
        await using var control = new ControlPlane();
        await using var edge = control.Wire(new ServiceHost<EdgeOptions>())
            .With("Edge:WatchBackoffInitial", "00:00:00.100")
            .With("Edge:WatchBackoffMax", "00:00:00.500")
            .Start();
        using var management = edge.CreateManagementClient();

        using (var before = await management.GetAsync("health", ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
        }
        using (var alive = await management.GetAsync("alive", ct))
        {
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }

        control.Start();

        await Eventually.HoldsAsync(async () =>
        {
            using var after = await management.GetAsync("health", ct);
            return after.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(30), "the edge becomes ready once catalog's first snapshot is applied");

        // Catalog gone again: the edge keeps its last good routes and stays ready.
        await control.Catalog.DisposeAsync();
        await Eventually.HoldsAsync(async () =>
        {
            var status = System.Text.Json.Nodes.JsonNode.Parse(await management.GetStringAsync("_veil/edge", ct))!;
            return !status["watchConnected"]!.GetValue<bool>();
        }, TimeSpan.FromSeconds(30), "the edge notices the lost catalog watch");
        using var stillReady = await management.GetAsync("health", ct);
        Assert.Equal(HttpStatusCode.OK, stillReady.StatusCode);
    }
}
