using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// What runs where (docs/catalog.md, "What runs where"): edges report on their config stream what
/// they serve; GetApi tells the owner which live edges serve which version; an edge drops out when
/// its stream closes, or when it stays silent for Catalog:EdgeReportTimeout.
/// </summary>
public sealed class EdgeReportsTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Deployment_FollowsEachEdgesReports_SilentEdgeDropsAfterTheTimeout_ClosedStreamAtOnce()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var catalog = fixture.NewCatalogHost()
            .With("Catalog:EdgeReportTimeout", "00:00:05")
            .WithServices(s => s.AddSingleton<TimeProvider>(time))
            .Start();
        using var channel = catalog.CreateGrpcChannel();
        var client = new CatalogService.CatalogServiceClient(channel);
        var owner = await fixture.SignUpProviderAsync();
        var api = (await client.CreateApiAsync(new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(), Name = "Weather", UpstreamUrl = "https://weather.example.com", TimeoutMs = 1000,
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(60));

        using var edgeA = client.WatchGatewayConfig(cancellationToken: bound.Token);
        await edgeA.RequestStream.WriteAsync(Report("edge-a", full: true, (api.Id, 1)), bound.Token);
        Assert.True(await edgeA.ResponseStream.MoveNext(bound.Token));
        await DeploymentIsAsync(client, owner, api.Id, inSync: true, ("edge-a", 1));

        // A new version: edge-a serves the old one until it reports the new one.
        await client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Weather 2" }, owner.Headers, CatalogFixture.Deadline, Ct);
        await DeploymentIsAsync(client, owner, api.Id, inSync: false, ("edge-a", 1));
        await edgeA.RequestStream.WriteAsync(Report("edge-a", full: false, (api.Id, 2)), bound.Token);
        await DeploymentIsAsync(client, owner, api.Id, inSync: true, ("edge-a", 2));

        // A second edge that serves nothing yet keeps the API out of sync.
        using var edgeB = client.WatchGatewayConfig(cancellationToken: bound.Token);
        await edgeB.RequestStream.WriteAsync(Report("edge-b", full: true), bound.Token);
        await DeploymentIsAsync(client, owner, api.Id, inSync: false, ("edge-a", 2), ("edge-b", 0));

        // edge-b goes silent: after the timeout only edge-a, which heartbeats, is live.
        time.Advance(TimeSpan.FromSeconds(4));
        await edgeA.RequestStream.WriteAsync(Report("edge-a", full: false), bound.Token);
        await Eventually.HoldsAsync(async () => (await DeploymentAsync(client, owner, api.Id)).Edges.Single(e => e.EdgeId == "edge-a").LastReportTime.ToDateTimeOffset() == time.GetUtcNow(),
            TimeSpan.FromSeconds(10), "edge-a's heartbeat is recorded");
        time.Advance(TimeSpan.FromSeconds(2));
        await DeploymentIsAsync(client, owner, api.Id, inSync: true, ("edge-a", 2));

        // edge-a hangs up: it drops out at once, and no live edge means not in sync.
        await edgeA.RequestStream.CompleteAsync();
        await DeploymentIsAsync(client, owner, api.Id, inSync: false);

        // Only the owner (and admins) see it.
        var consumer = await fixture.SignUpConsumerAsync();
        Assert.Null((await client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, consumer.Headers, CatalogFixture.Deadline, Ct)).Deployment);
        Assert.NotNull((await client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Deployment);
    }

    [Fact]
    public async Task Watch_NoFirstReport_StreamStillSendsNothingUntilNamed_ThenTheConfig()
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(30));
        using var call = fixture.Client.WatchGatewayConfig(cancellationToken: bound.Token);
        var first = call.ResponseStream.MoveNext(bound.Token);
        await call.RequestStream.WriteAsync(Report("late-edge", full: true), bound.Token);

        Assert.True(await first);
        Assert.True(call.ResponseStream.Current.Revision >= 0);
    }

    private static WatchGatewayConfigRequest Report(string edgeId, bool full, params (string ApiId, long Version)[] routes)
    {
        var report = new WatchGatewayConfigRequest { EdgeId = edgeId, ServedRevision = 1, Full = full };
        report.Routes.AddRange(routes.Select(r => new ServedApiVersion { ApiId = r.ApiId, Version = r.Version }));
        return report;
    }

    private static async Task<ApiDeployment> DeploymentAsync(CatalogService.CatalogServiceClient client, TestAccount owner, string apiId) =>
        (await client.GetApiAsync(new GetApiRequest { ApiId = apiId }, owner.Headers, CatalogFixture.Deadline, Ct)).Deployment;

    private static Task DeploymentIsAsync(CatalogService.CatalogServiceClient client, TestAccount owner, string apiId, bool inSync,
        params (string EdgeId, long Version)[] edges) =>
        Eventually.HoldsAsync(async () =>
        {
            var deployment = await DeploymentAsync(client, owner, apiId);
            return deployment.InSync == inSync && deployment.Edges.Select(e => (e.EdgeId, e.ServedVersion)).SequenceEqual(edges);
        }, TimeSpan.FromSeconds(10), $"the deployment is in_sync={inSync} with {string.Join(", ", edges)}");
}
