using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>
/// Issue 15, item 6: plans change without surprising anyone. An edit is a new immutable version;
/// a subscriber keeps its cycle's terms until its next cycle; an etag guards against lost updates;
/// archived plans take no new subscriptions; a plan is deleted only when nobody uses it.
/// </summary>
public sealed class PlanVersionTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static DateTime Deadline => SubscriptionsFixture.Deadline;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private SubscriptionService.SubscriptionServiceClient Client => fixture.Client;

    [Fact]
    public async Task UpdatePlan_ChangedFields_NewVersionOthersKept_VersionsListedNewestFirst()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();

        var updated = (await Client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 7, MonthlyQuota = 500 },
            provider.Headers, Deadline, Ct)).Plan;

        Assert.Equal((2L, 7L, 500L), (updated.Version, updated.PricePerCallMinor, updated.MonthlyQuota));
        Assert.Equal((plan.Name, plan.RequestsPerSecond, plan.Burst, plan.Currency), (updated.Name, updated.RequestsPerSecond, updated.Burst, updated.Currency));
        Assert.Equal(PlanState.Active, updated.State);
        Assert.NotEqual(plan.Etag, updated.Etag);
        Assert.Equal(updated, (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct)).Plan);
        var versions = (await Client.ListPlanVersionsAsync(new ListPlanVersionsRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct)).Versions;
        Assert.Equal([2L, 1L], versions.Select(v => v.Version));
        Assert.Equal([7L, 0L], versions.Select(v => v.Plan.PricePerCallMinor));
        Assert.All(versions, v => Assert.Equal(provider.Id, v.CreatedBy));

        // Paged like every list: one per page, then the token resumes after version 2.
        var first = await Client.ListPlanVersionsAsync(new ListPlanVersionsRequest { PlanId = plan.Id, PageSize = 1 }, provider.Headers, Deadline, Ct);
        var second = await Client.ListPlanVersionsAsync(new ListPlanVersionsRequest { PlanId = plan.Id, PageSize = 1, PageToken = first.NextPageToken },
            provider.Headers, Deadline, Ct);
        Assert.Equal((2L, 1L, ""), (first.Versions.Single().Version, second.Versions.Single().Version, second.NextPageToken));
    }

    [Fact]
    public async Task UpdatePlan_NothingChanges_NoNewVersion()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();

        var same = (await Client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id, Name = plan.Name, RequestsPerSecond = plan.RequestsPerSecond },
            provider.Headers, Deadline, Ct)).Plan;
        var empty = (await Client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct)).Plan;

        Assert.Equal(plan, same);
        Assert.Equal(plan, empty);
        var versions = (await Client.ListPlanVersionsAsync(new ListPlanVersionsRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct)).Versions;
        Assert.Equal([1L], versions.Select(v => v.Version));
    }

    [Fact]
    public async Task UpdatePlan_StaleEtag_Conflict409_CurrentEtagApplies()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();
        var staleEtag = plan.Etag;
        await Client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 1, Etag = staleEtag }, provider.Headers, Deadline, Ct);
        using var rest = fixture.Rest(provider);

        // Over gRPC with the body's etag.
        var ex = await Expect.StatusAsync(StatusCode.Aborted, () => Client.UpdatePlanAsync(
            new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 2, Etag = staleEtag }, provider.Headers, Deadline, Ct).ResponseAsync);
        Assert.Contains("the plan changed since you read it", ex.Status.Detail, StringComparison.OrdinalIgnoreCase);
        // Over REST with If-Match only: transcoding hands the HTTP header to the service as metadata.
        using var stale = new HttpRequestMessage(HttpMethod.Patch, $"v1/plans/{plan.Id}") { Content = JsonContent.Create(new { pricePerCallMinor = 3 }) };
        stale.Headers.TryAddWithoutValidation("If-Match", $"\"{staleEtag}\"");
        var problem = await Expect.ProblemAsync(await rest.SendAsync(stale, Ct), HttpStatusCode.Conflict);
        Assert.Contains("read it again", problem.GetProperty("detail").GetString());

        var current = (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct)).Plan;
        Assert.Equal(1L, current.PricePerCallMinor);
        using var fresh = new HttpRequestMessage(HttpMethod.Patch, $"v1/plans/{plan.Id}") { Content = JsonContent.Create(new { pricePerCallMinor = 4 }) };
        fresh.Headers.TryAddWithoutValidation("If-Match", $"\"{current.Etag}\"");
        using var applied = await rest.SendAsync(fresh, Ct);
        var body = await applied.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(applied.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal(4, body.GetProperty("plan").GetProperty("pricePerCallMinor").GetInt64());
    }

    [Fact]
    public async Task PlanChanges_NotTheOwner_NotFound()
    {
        var (_, _, plan) = await fixture.ProviderWithPlanAsync();
        var otherProvider = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();

        foreach (var stranger in new[] { otherProvider, consumer })
        {
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.UpdatePlanAsync(
                new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 9 }, stranger.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.ListPlanVersionsAsync(
                new ListPlanVersionsRequest { PlanId = plan.Id }, stranger.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.ArchivePlanAsync(
                new ArchivePlanRequest { PlanId = plan.Id }, stranger.Headers, Deadline, Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.NotFound, () => Client.DeletePlanAsync(
                new DeletePlanRequest { PlanId = plan.Id }, stranger.Headers, Deadline, Ct).ResponseAsync);
        }
        var unchanged = (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct)).Plan;
        Assert.Equal(plan, unchanged);
        // An admin may change anyone's plan.
        var byAdmin = (await Client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 9 }, fixture.Admin.Headers, Deadline, Ct)).Plan;
        Assert.Equal(2L, byAdmin.Version);
    }

    [Fact]
    public async Task UpdatePlan_InvalidFields_400WithEveryFieldError()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var taken = await fixture.CreatePlanAsync(provider, api.Id, "Taken");
        using var rest = fixture.Rest(provider);

        using var response = await rest.PatchAsJsonAsync($"v1/plans/{plan.Id}",
            new { name = "", requestsPerSecond = 0, burst = 100001, monthlyQuota = -1, pricePerCallMinor = -1, currency = "usd" }, Ct);

        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["burst", "currency", "monthlyquota", "name", "pricepercallminor", "requestspersecond"],
            Expect.ProblemFields(problem).Select(f => f.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant()).Order());
        await Expect.StatusAsync(StatusCode.AlreadyExists, () => Client.UpdatePlanAsync(
            new UpdatePlanRequest { PlanId = plan.Id, Name = taken.Name.ToUpperInvariant() }, provider.Headers, Deadline, Ct).ResponseAsync);
        Assert.Equal(1L, (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct)).Plan.Version);
    }

    [Fact]
    public async Task ArchivePlan_NewSubscriptionsRefused409_CurrentOnesContinue_HiddenFromLists()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var current = await fixture.SignUpConsumerAsync();
        var subscription = await fixture.SubscribeAsync(current, plan);

        var archived = (await Client.ArchivePlanAsync(new ArchivePlanRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct)).Plan;

        Assert.Equal(PlanState.Archived, archived.State);
        Assert.NotEqual(plan.Etag, archived.Etag);
        var latecomer = await fixture.SignUpConsumerAsync();
        using var rest = fixture.Rest(latecomer);
        var problem = await Expect.ProblemAsync(await rest.PostAsJsonAsync("v1/subscriptions", new { planId = plan.Id }, Ct), HttpStatusCode.Conflict);
        Assert.Contains("archived", problem.GetProperty("detail").GetString());
        var entitlement = await Client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = current.Id, ApiId = api.Id },
            deadline: Deadline, cancellationToken: Ct);
        Assert.True(entitlement.Entitled);
        Assert.Equal(subscription.Id, entitlement.Subscription.Id);
        var listed = (await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct)).Plans;
        Assert.DoesNotContain(listed, p => p.Id == plan.Id);
        var all = (await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id, ShowArchived = true }, deadline: Deadline, cancellationToken: Ct)).Plans;
        Assert.Contains(all, p => p.Id == plan.Id && p.State == PlanState.Archived);
        // Idempotent.
        Assert.Equal(archived, (await Client.ArchivePlanAsync(new ArchivePlanRequest { PlanId = plan.Id }, provider.Headers, Deadline, Ct)).Plan);
    }

    [Fact]
    public async Task DeletePlan_WhileUsed_409SaysHowMany_AfterCancel_GoneFromListsButResolvable()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var subscription = await fixture.SubscribeAsync(consumer, plan);
        using var rest = fixture.Rest(provider);

        var refused = await Expect.ProblemAsync(await rest.DeleteAsync($"v1/plans/{plan.Id}", Ct), HttpStatusCode.Conflict);
        Assert.Contains("1 active subscription", refused.GetProperty("detail").GetString());

        await Client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct);
        using var deleted = await rest.DeleteAsync($"v1/plans/{plan.Id}", Ct);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);

        var listed = (await Client.ListPlansAsync(new ListPlansRequest { ApiId = api.Id, ShowArchived = true }, deadline: Deadline, cancellationToken: Ct)).Plans;
        Assert.DoesNotContain(listed, p => p.Id == plan.Id);
        var resolved = (await Client.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: Deadline, cancellationToken: Ct)).Plan;
        Assert.Equal(PlanState.Deleted, resolved.State);
        var history = (await Client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct))
            .Subscription;
        Assert.Equal(plan.Id, history.PlanId);
        await Expect.StatusAsync(StatusCode.Aborted, () => Client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.Aborted, () => Client.UpdatePlanAsync(
            new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 1 }, provider.Headers, Deadline, Ct).ResponseAsync);
        // The name is free again.
        Assert.Equal(plan.Name, (await fixture.CreatePlanAsync(provider, api.Id, plan.Name)).Name);
    }

    [Fact]
    public async Task Entitlement_PlanChangedMidCycle_OldTermsUntilTheCycleEnds_NewTermsFromTheNext()
    {
        // A cycle that crosses the end of February: anchored 2027-01-01, renewed 2027-02-01 and 2027-03-01.
        var anchor = HardDates.Parse("2027-01-01T00:00:00Z");
        var boundary = HardDates.Parse("2027-03-01T00:00:00Z");
        var clock = new FakeTimeProvider(anchor);
        await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl)
            .WithServices(services => services.AddSingleton<TimeProvider>(clock)).Start();
        var client = new SubscriptionService.SubscriptionServiceClient(fixture.Channel(host.GrpcUrl));
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var plan = (await client.CreatePlanAsync(new CreatePlanRequest
        {
            ApiId = api.Id, Name = "Pro", RequestsPerSecond = 10, MonthlyQuota = 1000, PricePerCallMinor = 2,
        }, provider.Headers, Deadline, Ct)).Plan;
        var consumer = await fixture.SignUpConsumerAsync();
        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, Deadline, Ct)).Subscription;

        clock.SetUtcNow(HardDates.Parse("2027-02-15T12:00:00Z"));
        var changed = (await client.UpdatePlanAsync(new UpdatePlanRequest { PlanId = plan.Id, PricePerCallMinor = 5, MonthlyQuota = 200, RequestsPerSecond = 20 },
            provider.Headers, Deadline, Ct)).Plan;
        Assert.Equal(2L, changed.Version);

        // Someone subscribing now gets the new terms at once.
        var newcomer = await fixture.SignUpConsumerAsync();
        var newSubscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, newcomer.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(2L, newSubscription.PlanVersion);
        Assert.Equal((2L, 5L), await TermsAsync(newcomer));

        // The current subscriber keeps version 1 to the last millisecond of its cycle …
        clock.SetUtcNow(boundary.AddMilliseconds(-1));
        Assert.Equal((1L, 2L), await TermsAsync(consumer));
        var entitled = await EntitlementAsync(consumer);
        Assert.Equal((1000L, 10), (entitled.Plan.MonthlyQuota, entitled.Plan.RequestsPerSecond));
        Assert.Equal(1L, (await client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct))
            .Subscription.PlanVersion);

        // … and moves to version 2 when the next one starts.
        clock.SetUtcNow(boundary);
        Assert.Equal((2L, 5L), await TermsAsync(consumer));
        entitled = await EntitlementAsync(consumer);
        Assert.Equal((200L, 20), (entitled.Plan.MonthlyQuota, entitled.Plan.RequestsPerSecond));
        Assert.Equal(2L, (await client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, consumer.Headers, Deadline, Ct))
            .Subscription.PlanVersion);

        // Billing asks the same rule per cycle: February's cycle on version 1, March's on version 2;
        // an unknown subscription is left out; a consumer may not ask.
        var cycles = new GetCycleTermsRequest
        {
            Cycles =
            {
                new CycleRef { SubscriptionId = subscription.Id, CycleStart = Timestamp.FromDateTimeOffset(HardDates.Parse("2027-02-01T00:00:00Z")) },
                new CycleRef { SubscriptionId = subscription.Id, CycleStart = Timestamp.FromDateTimeOffset(boundary) },
                new CycleRef { SubscriptionId = "sub_unknown", CycleStart = Timestamp.FromDateTimeOffset(boundary) },
            },
        };
        var priced = (await client.GetCycleTermsAsync(cycles, deadline: Deadline, cancellationToken: Ct)).Cycles;
        Assert.Equal([(1L, 2L), (2L, 5L)], priced.Select(c => (c.Plan.Version, c.Plan.PricePerCallMinor)));
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => client.GetCycleTermsAsync(cycles, consumer.Headers, Deadline, Ct).ResponseAsync);

        async Task<CheckEntitlementResponse> EntitlementAsync(TestAccount who) =>
            await client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = who.Id, ApiId = api.Id }, deadline: Deadline, cancellationToken: Ct);

        async Task<(long Version, long Price)> TermsAsync(TestAccount who)
        {
            var answer = await EntitlementAsync(who);
            Assert.True(answer.Entitled);
            return (answer.Plan.Version, answer.Plan.PricePerCallMinor);
        }
    }
}
