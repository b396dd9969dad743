using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Veil.Subscriptions.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>
/// Issue 12, item 10: the quota follows (consumer, API, cycle), so cancelling and subscribing again
/// within a cycle neither restarts the cycle nor (on the same plan) starts a second subscription.
/// On a fake clock at the hard dates: month ends, leap days, the 31st, the last millisecond of a year.
/// </summary>
public sealed class ResubscribeTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static DateTime Deadline => SubscriptionsFixture.Deadline;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory, HardDateData]
    public async Task Subscribe_AfterCancelWithinThePaidCycle_ResumesOrKeepsTheAnchor_AfterItEnds_StartsAfresh(string at)
    {
        var start = HardDates.Parse(at);
        var clock = new FakeTimeProvider(start);
        await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl)
            .WithServices(services => services.AddSingleton<TimeProvider>(clock)).Start();
        var client = new SubscriptionService.SubscriptionServiceClient(fixture.Channel(host.GrpcUrl));
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var basic = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Basic", RequestsPerSecond = 10, MonthlyQuota = 100 },
            provider.Headers, Deadline, Ct)).Plan;
        var pro = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Pro", RequestsPerSecond = 10, MonthlyQuota = 500 },
            provider.Headers, Deadline, Ct)).Plan;
        var consumer = await fixture.SignUpConsumerAsync();
        var first = (await client.SubscribeAsync(new SubscribeRequest { PlanId = basic.Id }, consumer.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(start, first.CycleAnchorTime.ToDateTimeOffset());
        var cycleEnd = Cycles.Containing(start, start).End;

        // Cancelled mid-cycle, then the same plan again: resumed — same id, same anchor, active.
        clock.SetUtcNow(start + (cycleEnd - start) / 2);
        await client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = first.Id }, consumer.Headers, Deadline, Ct);
        clock.Advance(TimeSpan.FromHours(1));
        var resumed = await client.SubscribeAsync(new SubscribeRequest { PlanId = basic.Id }, consumer.Headers, Deadline, Ct);
        Assert.True(resumed.Resumed);
        Assert.Equal(first.Id, resumed.Subscription.Id);
        Assert.Equal(SubscriptionStatus.Active, resumed.Subscription.Status);
        Assert.Null(resumed.Subscription.CancelTime);
        Assert.Equal(start, resumed.Subscription.CycleAnchorTime.ToDateTimeOffset());
        var entitlement = await client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id },
            deadline: Deadline, cancellationToken: Ct);
        Assert.Equal(first.Id, entitlement.Subscription.Id);

        // Cancelled again, then another plan in the last millisecond of the cycle: a new subscription, same anchor.
        await client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = first.Id }, consumer.Headers, Deadline, Ct);
        clock.SetUtcNow(cycleEnd.AddMilliseconds(-1));
        var switched = await client.SubscribeAsync(new SubscribeRequest { PlanId = pro.Id }, consumer.Headers, Deadline, Ct);
        Assert.False(switched.Resumed);
        Assert.NotEqual(first.Id, switched.Subscription.Id);
        Assert.Equal(cycleEnd.AddMilliseconds(-1), switched.Subscription.CreateTime.ToDateTimeOffset());
        Assert.Equal(start, switched.Subscription.CycleAnchorTime.ToDateTimeOffset());

        // Cancelled, and subscribed again once that cycle is over: nothing left to follow, a fresh anchor.
        await client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = switched.Subscription.Id }, consumer.Headers, Deadline, Ct);
        clock.SetUtcNow(cycleEnd);
        var fresh = await client.SubscribeAsync(new SubscribeRequest { PlanId = pro.Id }, consumer.Headers, Deadline, Ct);
        Assert.False(fresh.Resumed);
        Assert.NotEqual(switched.Subscription.Id, fresh.Subscription.Id);
        Assert.Equal(cycleEnd, fresh.Subscription.CycleAnchorTime.ToDateTimeOffset());

        // Another consumer's cancelled subscription never lends its cycle.
        var other = await fixture.SignUpConsumerAsync();
        var own = (await client.SubscribeAsync(new SubscribeRequest { PlanId = basic.Id }, other.Headers, Deadline, Ct)).Subscription;
        Assert.Equal(cycleEnd, own.CycleAnchorTime.ToDateTimeOffset());
    }
}
