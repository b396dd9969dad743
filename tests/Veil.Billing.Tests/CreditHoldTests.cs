using System.Net;
using System.Net.Http.Json;
using Grpc.Core;
using Veil.Billing.Grpc;
using Veil.Billing.V1;
using Veil.Identity.V1;
using Veil.Subscriptions.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Credit holds end to end: billing decides, the real subscriptions service enforces.</summary>
public sealed class CreditHoldTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    /// <summary>Billing and a subscriptions host that asks it about holds (and is its plan source).</summary>
    private (World World, ClockedHost<SubscriptionsGrpcService> Subscriptions, SubscriptionService.SubscriptionServiceClient Client) Start(
        DateTimeOffset clockStart, Action<ClockedHost<BillingGrpcService>>? configure = null)
    {
        var world = World.Start(fleet, clockStart, configure, enforceHolds: true);
        return (world, world.Subscriptions, world.SubscriptionsClient);
    }

    private static async Task<Plan> PlanAsync(SubscriptionService.SubscriptionServiceClient client, Fleet fleet, Account provider, CreatePlanRequest request)
    {
        request.ApiId = (await fleet.CreateApiAsync(provider)).Id;
        request.Name = "Plan";
        request.RequestsPerSecond = 10;
        return (await client.CreatePlanAsync(request, provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
    }

    [Fact]
    public async Task CreditHold_Manual_BlocksNewPaidSubscriptionNotFreeAndLiftingUnblocks()
    {
        var (world, subscriptions, client) = Start(HardDates.Ordinary);
        await using var disposeWorld = world;
        var manager = await fleet.BillingManagerAsync();
        var provider = await fleet.SignUpAsync(Role.Provider);
        var consumer = await fleet.SignUpAsync(Role.Consumer);
        var paid = await PlanAsync(client, fleet, provider, new CreatePlanRequest { BasePriceMinor = 900, Currency = "USD" });
        var free = await PlanAsync(client, fleet, provider, new CreatePlanRequest());

        var hold = (await world.Client.PlaceCreditHoldAsync(new PlaceCreditHoldRequest { AccountId = consumer.Id, Reason = "Card declined twice" },
            manager.Headers, Fleet.Deadline, Fleet.Ct)).Hold;
        var refused = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => client.SubscribeAsync(
            new SubscribeRequest { PlanId = paid.Id }, consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        using var rest = subscriptions.CreateRestClient().WithToken(consumer);
        using var refusedRest = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = paid.Id }, Fleet.Ct);
        await Expect.ProblemAsync(refusedRest, HttpStatusCode.BadRequest);
        var freeSubscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = free.Id }, consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;
        var status = await world.Client.GetAccountStatusAsync(new GetAccountStatusRequest { AccountId = consumer.Id }, consumer.Headers, Fleet.Deadline, Fleet.Ct);

        Assert.Equal(("Card declined twice", manager.Id), (hold.Reason, hold.PlacedBy));
        Assert.Contains("credit hold", refused.Status.Detail);
        Assert.DoesNotContain("Card declined", refused.Status.Detail);
        Assert.Equal(SubscriptionStatus.Active, freeSubscription.Status);
        Assert.True(status.OnHold);
        Assert.Equal("Card declined twice", status.ManualHold.Reason);

        var lifted = await world.Client.LiftCreditHoldAsync(new LiftCreditHoldRequest { AccountId = consumer.Id, Reason = "Paid by transfer" },
            manager.Headers, Fleet.Deadline, Fleet.Ct);
        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = paid.Id }, consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;

        Assert.Equal((true, false), (lifted.Lifted, lifted.StillOnHold));
        Assert.Equal(SubscriptionStatus.Active, subscription.Status);
        var audit = (await world.Client.ListMoneyAuditAsync(new ListMoneyAuditRequest { AccountId = consumer.Id }, manager.Headers, Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Equal([("credit_hold.lifted", "Paid by transfer", manager.Id), ("credit_hold.placed", "Card declined twice", manager.Id)],
            audit.Select(e => (e.Action, e.Detail, e.Actor)).ToArray());
        var again = await world.Client.LiftCreditHoldAsync(new LiftCreditHoldRequest { AccountId = consumer.Id, Reason = "Twice" }, manager.Headers,
            Fleet.Deadline, Fleet.Ct);
        Assert.False(again.Lifted);
    }

    [Fact]
    public async Task CreditHold_UnpaidInvoicesOverThreshold_BlocksPaidSubscriptionsUntilPaid()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        var (world, _, client) = Start(start, b => b.With("Billing:CreditHoldThresholdMinor:USD", "1000"));
        await using var disposeWorld = world;
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { BasePriceMinor = 1_000, PricePerCallMinor = 1, Currency = "USD" }, anchor);
        var other = await PlanAsync(client, fleet, customer.Provider, new CreatePlanRequest { PricePerCallMinor = 1, Currency = "USD" });
        await world.IngestAsync(customer.Calls(1, start.AddMinutes(-5)));
        world.Clock.SetUtcNow(boundary + Grace);
        await world.ReconcileAsync(manager);
        var invoice = await world.InvoiceForAsync(customer.Consumer, anchor);
        Assert.Equal((InvoiceStatus.Finalized, 1_001L), (invoice.Status, invoice.TotalMinor));

        // 1001 unpaid > 1000: on hold without anyone placing it.
        var check = await world.Client.CheckCreditHoldAsync(new CheckCreditHoldRequest { AccountId = customer.Consumer.Id }, deadline: Fleet.Deadline,
            cancellationToken: Fleet.Ct);
        var status = await world.Client.GetAccountStatusAsync(new GetAccountStatusRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct);
        var refused = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => client.SubscribeAsync(
            new SubscribeRequest { PlanId = other.Id }, customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);

        Assert.True(check.OnHold);
        Assert.Contains("USD", check.Reason);
        var usd = status.Balances.Single();
        Assert.Equal((true, 1_001L, 1_000L, true, (CreditHold?)null), (status.OnHold, usd.UnpaidMinor, usd.ThresholdMinor, usd.OverThreshold, status.ManualHold));
        Assert.Contains("USD", refused.Status.Detail);
        var lift = await world.Client.LiftCreditHoldAsync(new LiftCreditHoldRequest { AccountId = customer.Consumer.Id, Reason = "Asked nicely" },
            manager.Headers, Fleet.Deadline, Fleet.Ct);
        Assert.Equal((false, true), (lift.Lifted, lift.StillOnHold));

        await world.Client.MarkInvoicePaidAsync(new MarkInvoicePaidRequest { InvoiceId = invoice.Id }, manager.Headers, Fleet.Deadline, Fleet.Ct);
        var cleared = await world.Client.CheckCreditHoldAsync(new CheckCreditHoldRequest { AccountId = customer.Consumer.Id }, deadline: Fleet.Deadline,
            cancellationToken: Fleet.Ct);
        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = other.Id }, customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct)).Subscription;

        Assert.Equal((false, ""), (cleared.OnHold, cleared.Reason));
        Assert.Equal(SubscriptionStatus.Active, subscription.Status);
    }

    [Fact]
    public async Task CheckCreditHold_MissingAccount_FieldError()
    {
        await using var world = World.Start(fleet, HardDates.Ordinary);

        var fields = await Expect.FieldErrorsAsync(() => world.Client.CheckCreditHoldAsync(new CheckCreditHoldRequest(), deadline: Fleet.Deadline,
            cancellationToken: Fleet.Ct).ResponseAsync);

        Assert.Equal(["account_id"], fields);
    }
}
