using System.Text;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>ListSubscriptionsForBilling: billing's internal view of every subscription it may have to invoice.</summary>
public sealed class BillingListingTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DateTime Deadline => SubscriptionsFixture.Deadline;

    private SubscriptionService.SubscriptionServiceClient Client => fixture.Client;

    [Fact]
    public async Task ListSubscriptionsForBilling_ServiceCall_PagesActiveAndCancelledAfterWithPlans()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumers = new List<TestAccount>();
        for (var i = 0; i < 3; i++)
        {
            consumers.Add(await fixture.SignUpConsumerAsync());
        }
        var subscriptions = new List<Subscription>();
        foreach (var consumer in consumers)
        {
            subscriptions.Add(await fixture.SubscribeAsync(consumer, plan));
        }
        var canceled = (await Client.CancelSubscriptionAsync(new CancelSubscriptionRequest { SubscriptionId = subscriptions[0].Id },
            consumers[0].Headers, Deadline, Ct)).Subscription;
        var mine = subscriptions.Select(s => s.Id).ToHashSet();

        // No token: the service-to-service call billing makes. Pages of 2 walk everything in id order.
        var all = await ListAllAsync(pageSize: 2, canceledAfter: null);
        var before = await ListAllAsync(pageSize: 0, canceledAfter: Timestamp.FromDateTimeOffset(canceled.CancelTime.ToDateTimeOffset().AddMilliseconds(-1)));
        var at = await ListAllAsync(pageSize: 1000, canceledAfter: canceled.CancelTime);

        Assert.Equal(all.Select(s => s.Subscription.Id).Order(StringComparer.Ordinal), all.Select(s => s.Subscription.Id));
        Assert.Equal(all.Count, all.Select(s => s.Subscription.Id).Distinct().Count());
        var listed = all.Where(s => mine.Contains(s.Subscription.Id)).OrderBy(s => s.Subscription.Id, StringComparer.Ordinal).ToList();
        Assert.Equal(
            subscriptions.Skip(1).Prepend(canceled).OrderBy(s => s.Id, StringComparer.Ordinal),
            listed.Select(s => s.Subscription));
        Assert.All(listed, s => Assert.Equal((plan, provider.Id), (s.Plan, s.ProviderId)));
        Assert.Contains(before, s => s.Subscription.Id == canceled.Id);
        Assert.DoesNotContain(at, s => s.Subscription.Id == canceled.Id);
        Assert.Equal(2, at.Count(s => mine.Contains(s.Subscription.Id)));
    }

    [Fact]
    public async Task ListSubscriptionsForBilling_ConsumerOrProviderToken_PermissionDenied()
    {
        var (provider, _, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        await fixture.SubscribeAsync(consumer, plan);
        var request = new ListSubscriptionsForBillingRequest();

        await Expect.StatusAsync(StatusCode.PermissionDenied, () => Client.ListSubscriptionsForBillingAsync(request, consumer.Headers, Deadline, Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => Client.ListSubscriptionsForBillingAsync(request, provider.Headers, Deadline, Ct).ResponseAsync);
        // A token that does not validate is not a service call either.
        var forged = new Metadata { { "Authorization", "Bearer " + consumer.Token[..^4] + "AAAA" } };
        await Expect.StatusAsync(StatusCode.Unauthenticated, () => Client.ListSubscriptionsForBillingAsync(request, forged, Deadline, Ct).ResponseAsync);

        // Staff may look.
        foreach (var staff in new[] { fixture.Admin, fixture.BillingManager })
        {
            var page = await Client.ListSubscriptionsForBillingAsync(request, staff.Headers, Deadline, Ct);
            Assert.NotEmpty(page.Subscriptions);
        }
    }

    [Fact]
    public async Task ListSubscriptionsForBilling_BadPaging_FieldErrors()
    {
        var notOurs = Convert.ToBase64String(Encoding.UTF8.GetBytes("plan_00000000000000000000"));

        var all = await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsForBillingAsync(new ListSubscriptionsForBillingRequest
        {
            PageSize = -1, PageToken = "not a token", CanceledAfter = new Timestamp { Seconds = -5 },
        }, deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        var tooLarge = await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsForBillingAsync(new ListSubscriptionsForBillingRequest { PageSize = 1001 },
            deadline: Deadline, cancellationToken: Ct).ResponseAsync);
        var foreign = await Expect.FieldErrorsAsync(() => Client.ListSubscriptionsForBillingAsync(new ListSubscriptionsForBillingRequest { PageToken = notOurs },
            deadline: Deadline, cancellationToken: Ct).ResponseAsync);

        Assert.Equal(["page_size", "page_token", "canceled_after"], all);
        Assert.Equal(["page_size"], tooLarge);
        Assert.Equal(["page_token"], foreign);
    }

    private async Task<List<BillableSubscription>> ListAllAsync(int pageSize, Timestamp? canceledAfter)
    {
        var request = new ListSubscriptionsForBillingRequest { PageSize = pageSize, CanceledAfter = canceledAfter };
        var all = new List<BillableSubscription>();
        do
        {
            var page = await Client.ListSubscriptionsForBillingAsync(request, deadline: Deadline, cancellationToken: Ct);
            Assert.True(pageSize == 0 || page.Subscriptions.Count <= pageSize);
            all.AddRange(page.Subscriptions);
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        return all;
    }
}
