using System.Net;
using System.Net.Http.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>
/// What an API's lifecycle does to subscriptions (docs/subscriptions.md, "When an API is suspended,
/// deprecated or deleted"): catalog pushes it (SetApiLifecycle); a suspended or deleted API takes no
/// new subscription from that moment; a deleted API's active subscriptions end at its sunset, also
/// across a restart, as billing lists them.
/// </summary>
public sealed class ApiLifecycleTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static DateTime Deadline => SubscriptionsFixture.Deadline;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Subscribe_SuspendedThenDeletedApi_409AtOnce_ExistingSubscriptionKept_DeprecatedStillTakesSubscriptions()
    {
        var (provider, api, plan) = await fixture.ProviderWithPlanAsync();
        var existing = await fixture.SubscribeAsync(await fixture.SignUpConsumerAsync(), plan);
        var newcomer = await fixture.SignUpConsumerAsync();

        await fixture.CatalogClient.SuspendApiAsync(new SuspendApiRequest { ApiId = api.Id }, provider.Headers, Deadline, Ct);
        var suspended = await Expect.StatusAsync(StatusCode.Aborted, () => fixture.Client.SubscribeAsync(
            new SubscribeRequest { PlanId = plan.Id }, newcomer.Headers, Deadline, Ct).ResponseAsync);
        Assert.Contains("suspended by its provider", suspended.Status.Detail);

        await fixture.CatalogClient.ResumeApiAsync(new ResumeApiRequest { ApiId = api.Id }, provider.Headers, Deadline, Ct);
        await fixture.CatalogClient.DeprecateApiAsync(new DeprecateApiRequest { ApiId = api.Id }, provider.Headers, Deadline, Ct);
        var other = await fixture.SignUpConsumerAsync();
        Assert.Equal(SubscriptionStatus.Active, (await fixture.SubscribeAsync(other, plan)).Status);

        await fixture.CatalogClient.DeleteApiAsync(new DeleteApiRequest { ApiId = api.Id }, provider.Headers, Deadline, Ct);
        using var rest = fixture.Rest(newcomer);
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = plan.Id }, Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Contains("deleted by its provider", problem.GetProperty("detail").GetString());
        Assert.Contains("no new subscriptions", problem.GetProperty("detail").GetString());

        // Subscriptions made before stay until the sunset.
        var kept = (await fixture.Client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = existing.Id }, fixture.Admin.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(SubscriptionStatus.Active, kept.Status);
    }

    [Fact]
    public async Task Sunset_CancelsTheActiveSubscriptionsAtTheSunset_AcrossARestart_AsBillingListsThem()
    {
        var start = HardDates.Ordinary;
        var sunset = start.AddDays(2);
        var dataDirectory = Directory.CreateTempSubdirectory("veil-subscriptions-sunset-").FullName;
        try
        {
            var subscription = await SubscribeAndRetireAsync(dataDirectory, start, sunset);

            // Restarted after the sunset: the worker finds it due and ends the subscription then.
            var later = new FakeTimeProvider(sunset.AddHours(5));
            await using var restarted = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl, dataDirectory)
                .WithServices(s => s.AddSingleton<TimeProvider>(later)).Start();
            var client = new SubscriptionService.SubscriptionServiceClient(fixture.Channel(restarted.GrpcUrl));
            Subscription? ended = null;
            await Eventually.HoldsAsync(async () =>
            {
                ended = (await client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, fixture.Admin.Headers, Deadline, Ct)).Subscription;
                return ended.Status == SubscriptionStatus.Canceled;
            }, TimeSpan.FromSeconds(10), "the subscription is cancelled at the sunset");
            Assert.Equal(sunset, ended!.CancelTime.ToDateTimeOffset());

            // Billing's listing carries the cancellation at the sunset: it invoices the cycle up to it and none after.
            var listed = (await client.ListSubscriptionsForBillingAsync(new ListSubscriptionsForBillingRequest { PageSize = 500 }, deadline: Deadline, cancellationToken: Ct))
                .Subscriptions.Single(s => s.Subscription.Id == subscription.Id);
            Assert.Equal(sunset, listed.Subscription.CancelTime.ToDateTimeOffset());
        }
        finally
        {
            try
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the OS temp folder is cleaned anyway.
            }
        }
    }

    /// <summary>
    /// On a host over <paramref name="dataDirectory"/> at <paramref name="start"/>: a paid subscription,
    /// then what catalog sends on DeleteApi (this host is not the fixture catalog's), repeated, and a
    /// stale push; a day later, still before the sunset, the subscription is active. The host then stops.
    /// </summary>
    private async Task<Subscription> SubscribeAndRetireAsync(string dataDirectory, DateTimeOffset start, DateTimeOffset sunset)
    {
        var clock = new FakeTimeProvider(start);
        await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl, dataDirectory).WithServices(s => s.AddSingleton<TimeProvider>(clock)).Start();
        var client = new SubscriptionService.SubscriptionServiceClient(fixture.Channel(host.GrpcUrl));
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var plan = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Basic", RequestsPerSecond = 5, BasePriceMinor = 900 },
            provider.Headers, Deadline, Ct)).Plan;
        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, (await fixture.SignUpConsumerAsync()).Headers, Deadline, Ct)).Subscription;

        var retiring = new SetApiLifecycleRequest
        {
            ApiId = api.Id,
            State = (int)ApiState.Retiring,
            DeprecateTime = UnixMs.ToTimestamp(start.ToUnixTimeMilliseconds()),
            SunsetTime = UnixMs.ToTimestamp(sunset.ToUnixTimeMilliseconds()),
            Revision = 7,
        };
        Assert.True((await client.SetApiLifecycleAsync(retiring, deadline: Deadline, cancellationToken: Ct)).Applied);
        Assert.False((await client.SetApiLifecycleAsync(retiring, deadline: Deadline, cancellationToken: Ct)).Applied);
        Assert.False((await client.SetApiLifecycleAsync(new SetApiLifecycleRequest { ApiId = api.Id, State = (int)ApiState.Active, Revision = 6 },
            deadline: Deadline, cancellationToken: Ct)).Applied);

        clock.Advance(TimeSpan.FromDays(1));
        var before = (await client.GetSubscriptionAsync(new GetSubscriptionRequest { SubscriptionId = subscription.Id }, fixture.Admin.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(SubscriptionStatus.Active, before.Status);
        return subscription;
    }

    [Fact]
    public async Task SetApiLifecycle_FromAPerson_Refused()
    {
        var consumer = await fixture.SignUpConsumerAsync();
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => fixture.Client.SetApiLifecycleAsync(
            new SetApiLifecycleRequest { ApiId = "api_x", State = (int)ApiState.Retiring, Revision = 1, SunsetTime = UnixMs.ToTimestamp(1) },
            consumer.Headers, Deadline, Ct).ResponseAsync);
    }
}
