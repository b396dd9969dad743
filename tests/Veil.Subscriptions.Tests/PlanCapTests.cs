using Grpc.Core;
using Veil.Subscriptions.V1;

namespace Veil.Subscriptions.Tests;

/// <summary>The per-API cap on plans (Subscriptions:MaxPlansPerApi).</summary>
public sealed class PlanCapTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CreatePlan_BeyondMaxPlansPerApi_FailedPreconditionNamingTheSetting()
    {
        await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl);
        host.With("Subscriptions:MaxPlansPerApi", "2");
        var client = new SubscriptionService.SubscriptionServiceClient(fixture.Channel(host.Start().GrpcUrl));
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var other = await fixture.CreateApiAsync(provider);
        CreatePlanRequest Plan(string apiId, string name) => new() { ApiId = apiId, Name = name, RequestsPerSecond = 5 };
        await client.CreatePlanAsync(Plan(api.Id, "Free"), provider.Headers, SubscriptionsFixture.Deadline, Ct);
        await client.CreatePlanAsync(Plan(api.Id, "Pro"), provider.Headers, SubscriptionsFixture.Deadline, Ct);

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            client.CreatePlanAsync(Plan(api.Id, "Enterprise"), provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        var elsewhere = await client.CreatePlanAsync(Plan(other.Id, "Enterprise"), provider.Headers, SubscriptionsFixture.Deadline, Ct);

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("Subscriptions:MaxPlansPerApi", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(other.Id, elsewhere.Plan.ApiId);
    }
}
