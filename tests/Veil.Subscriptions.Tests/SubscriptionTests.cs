using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

public sealed class SubscriptionTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DateTime Deadline => SubscriptionsFixture.Deadline;

    private SubscriptionService.SubscriptionServiceClient Client => fixture.Client;

    [Fact]
    public async Task Subscribe_Consumer_ActiveAndEntitled()
    {
        var (_, api, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        var subscription = await fixture.SubscribeAsync(consumer, plan);

        Assert.StartsWith("sub_", subscription.Id);
        Assert.Equal((consumer.Id, api.Id, plan.Id, SubscriptionStatus.Active), (subscription.ConsumerId, subscription.ApiId, subscription.PlanId, subscription.Status));
        Assert.NotNull(subscription.CreateTime);
        Assert.Null(subscription.CancelTime);
        var entitlement = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct);
        Assert.True(entitlement.Entitled);
        Assert.Equal(subscription, entitlement.Subscription);
        Assert.Equal(plan, entitlement.Plan);
    }

    [Fact]
    public async Task WatchSubscriptionChanges_SubscribeThenCancel_ResyncFirstThenBothChanges()
    {
        var (_, api, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        using var watch = Client.WatchSubscriptionChanges(new WatchSubscriptionChangesRequest { EdgeId = "test" }, cancellationToken: timeout.Token);

        Assert.True(await watch.ResponseStream.MoveNext(timeout.Token));
        var resync = watch.ResponseStream.Current;
        var subscription = await fixture.SubscribeAsync(consumer, plan);
        await Client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct);
        var mine = new List<SubscriptionChange>();
        var revision = resync.Revision;
        while (mine.Count < 2 && await watch.ResponseStream.MoveNext(timeout.Token))
        {
            var message = watch.ResponseStream.Current;
            Assert.False(message.Resync);
            Assert.Equal(revision + message.Changes.Count, message.Revision); // one revision per change, none skipped
            revision = message.Revision;
            mine.AddRange(message.Changes.Where(c => c.SubscriptionId == subscription.Id));
        }

        Assert.True(resync.Resync);
        Assert.Empty(resync.Changes);
        Assert.Equal([SubscriptionChangeKind.Created, SubscriptionChangeKind.Canceled], mine.Select(c => c.Kind));
        Assert.All(mine, c => Assert.Equal((consumer.Id, api.Id), (c.ConsumerId, c.ApiId)));
    }

    [Fact]
    public async Task Subscribe_Rest_ReturnsActiveSubscription()
    {
        var (_, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        using var rest = fixture.Rest(consumer);

        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = plan.Id }, Ct);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        Assert.Equal("ACTIVE", body.GetProperty("subscription").GetProperty("status").GetString());
        Assert.Equal(consumer.Id, body.GetProperty("subscription").GetProperty("consumerId").GetString());
    }

    [Fact]
    public async Task Subscribe_Provider_PermissionDenied()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();

        await Expect.StatusAsync(StatusCode.PermissionDenied, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct).ResponseAsync);
        using var rest = fixture.Rest(provider);
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = plan.Id }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Subscribe_Anonymous_Unauthenticated()
    {
        var (_, _, plan) = await fixture.ProviderWithPlanAsync();

        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        using var rest = fixture.Rest();
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = plan.Id }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Subscribe_UnknownPlan_NotFound()
    {
        var consumer = await fixture.SignUpConsumerAsync();

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = "plan_00000000000000000000" }, consumer.Headers, Deadline, Ct).ResponseAsync);
        var fields = await Expect.FieldErrorsAsync(() => Client.SubscribeAsync(new SubscribeRequest(), consumer.Headers, Deadline, Ct).ResponseAsync);
        Assert.Equal(["plan_id"], fields);
        using var rest = fixture.Rest(consumer);
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = "plan_00000000000000000000" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Subscribe_SecondActiveToSameApi_AlreadyExistsUntilCancelled()
    {
        var (provider, api, free) = await fixture.ProviderWithPlanAsync();
        var pro = await fixture.CreatePlanAsync(provider, api.Id, "Pro");
        var (_, _, otherApiPlan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var first = await fixture.SubscribeAsync(consumer, free);

        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = free.Id }, consumer.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = pro.Id }, consumer.Headers, Deadline, Ct).ResponseAsync);
        using var rest = fixture.Rest(consumer);
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = pro.Id }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Conflict);

        // Another API is a separate subscription; after cancelling, the consumer may switch plans.
        await fixture.SubscribeAsync(consumer, otherApiPlan);
        await Client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = first.Id }, consumer.Headers, Deadline, Ct);
        var switched = await fixture.SubscribeAsync(consumer, pro);
        Assert.Equal(SubscriptionStatus.Active, switched.Status);
        var entitlement = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct);
        Assert.Equal(pro.Id, entitlement.Plan.Id);
    }

    [Fact]
    public async Task CancelSubscription_Consumer_EndsEntitlementAndIsIdempotent()
    {
        var (_, api, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var subscription = await fixture.SubscribeAsync(consumer, plan);

        var canceled = (await Client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct)).Subscription;
        using var rest = fixture.Rest(consumer);
        using var again = await rest.PostAsJsonAsync($"v1/subscriptions/{subscription.Id}:cancel", new { }, Ct);

        Assert.Equal(SubscriptionStatus.Canceled, canceled.Status);
        Assert.NotNull(canceled.CancelTime);
        var body = await again.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(again.IsSuccessStatusCode, body.ToString());
        Assert.Equal("CANCELED", body.GetProperty("subscription").GetProperty("status").GetString());
        var fetched = (await Client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(canceled, fetched); // the second cancel changed nothing, not even the time
        var entitlement = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct);
        Assert.False(entitlement.Entitled);
        Assert.Null(entitlement.Subscription);
        Assert.Null(entitlement.Plan);
    }

    [Fact]
    public async Task CancelSubscription_OthersRefused_AdminAllowed()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var stranger = await fixture.SignUpConsumerAsync();
        var otherProvider = await fixture.SignUpProviderAsync();
        var subscription = await fixture.SubscribeAsync(consumer, plan);
        var request = new CancelSubscriptionRequest { SubscriptionId = subscription.Id };

        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CancelSubscriptionAsync(request, stranger.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.CancelSubscriptionAsync(request, otherProvider.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => Client.CancelSubscriptionAsync(request, provider.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.CancelSubscriptionAsync(request, deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        using (var rest = fixture.Rest(stranger))
        using (var response = await rest.PostAsJsonAsync($"v1/subscriptions/{subscription.Id}:cancel", new { }, Ct))
        {
            await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
        }
        var still = (await Client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(SubscriptionStatus.Active, still.Status);

        var canceled = (await Client.CancelSubscriptionAsync(request, fixture.Admin.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(SubscriptionStatus.Canceled, canceled.Status);
    }

    [Fact]
    public async Task GetSubscription_ConsumerProviderAdmin_OthersNotFound()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var stranger = await fixture.SignUpConsumerAsync();
        var otherProvider = await fixture.SignUpProviderAsync();
        var subscription = await fixture.SubscribeAsync(consumer, plan);
        var request = new GetSubscriptionRequest { SubscriptionId = subscription.Id };

        foreach (var viewer in new[] { consumer, provider, fixture.Admin })
        {
            Assert.Equal(subscription, (await Client.GetSubscriptionAsync(request, viewer.Headers, Deadline, Ct)).Subscription);
        }
        foreach (var outsider in new[] { stranger, otherProvider })
        {
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetSubscriptionAsync(request, outsider.Headers, Deadline, Ct).ResponseAsync);
        }
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.GetSubscriptionAsync(request, deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = "sub_00000000000000000000" }, consumer.Headers, Deadline, Ct).ResponseAsync);

        using var rest = fixture.Rest(otherProvider);
        using var response = await rest.GetAsync($"v1/subscriptions/{subscription.Id}", Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.NotFound);
        using var ownerRest = fixture.Rest(provider);
        var json = await ownerRest.GetFromJsonAsync<JsonElement>($"v1/subscriptions/{subscription.Id}", Ct);
        Assert.Equal(subscription.Id, json.GetProperty("subscription").GetProperty("id").GetString());
    }

    [Fact]
    public async Task ListSubscriptions_ConsumersSeeTheirOwn_ProvidersSeeTheirApis()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var secondApi = await fixture.CreateApiAsync(provider);
        var secondPlan = await fixture.CreatePlanAsync(provider, secondApi.Id);
        var (otherProvider, _, otherPlan) = await fixture.ProviderWithPlanAsync();
        var alice = await fixture.SignUpConsumerAsync();
        var bob = await fixture.SignUpConsumerAsync();
        var aliceFirst = await fixture.SubscribeAsync(alice, plan);
        var aliceSecond = await fixture.SubscribeAsync(alice, secondPlan);
        var aliceOther = await fixture.SubscribeAsync(alice, otherPlan);
        var bobFirst = await fixture.SubscribeAsync(bob, plan);

        async Task<string[]> ListAsync(TestAccount viewer, string apiId = "") =>
            (await Client.ListSubscriptionsAsync(new ListSubscriptionsRequest { ApiId = apiId }, viewer.Headers, Deadline, Ct)).Subscriptions.Select(s => s.Id).ToArray();

        Assert.Equal([aliceOther.Id, aliceSecond.Id, aliceFirst.Id], await ListAsync(alice));
        Assert.Equal([bobFirst.Id], await ListAsync(bob));
        Assert.Equal([bobFirst.Id, aliceSecond.Id, aliceFirst.Id], await ListAsync(provider));
        Assert.Equal([aliceOther.Id], await ListAsync(otherProvider));
        Assert.Equal([bobFirst.Id, aliceFirst.Id], await ListAsync(provider, api.Id));
        Assert.Equal([bobFirst.Id, aliceFirst.Id], await ListAsync(provider, api.Slug));
        Assert.Equal([aliceFirst.Id], await ListAsync(alice, api.Slug));
        Assert.Empty(await ListAsync(otherProvider, api.Id));
        var adminView = await ListAsync(fixture.Admin, api.Id);
        Assert.Equal([bobFirst.Id, aliceFirst.Id], adminView);

        using var rest = fixture.Rest(bob);
        var json = await rest.GetFromJsonAsync<JsonElement>("v1/subscriptions", Ct);
        Assert.Equal(bobFirst.Id, json.GetProperty("subscriptions")[0].GetProperty("id").GetString());
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.ListSubscriptionsAsync(new ListSubscriptionsRequest(), deadline: Deadline, cancellationToken: Ct).ResponseAsync);
    }

    [Fact]
    public async Task CheckEntitlement_NoSubscription_NotEntitled()
    {
        var (_, api, plan) = await fixture.ProviderWithPlanAsync();
        var (_, otherApi, _) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        await fixture.SubscribeAsync(consumer, plan);

        var otherApiCheck = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = otherApi.Id }, deadline: Deadline, cancellationToken: Ct);
        var strangerCheck = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = "acc_nobody", ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct);
        var bySlug = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Slug }, deadline: Deadline, cancellationToken: Ct);

        Assert.False(otherApiCheck.Entitled);
        Assert.False(strangerCheck.Entitled);
        Assert.False(bySlug.Entitled); // entitlements are keyed by the canonical id the edge routes with
    }

    [Fact]
    public async Task CheckEntitlement_MissingFields_FieldErrors()
    {
        var fields = await Expect.FieldErrorsAsync(() => Client.CheckEntitlementAsync(new CheckEntitlementRequest(), deadline: Deadline, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(["api_id", "consumer_id"], fields.Order().ToArray());
    }
}
