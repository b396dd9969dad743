using Veil.Billing.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>
/// Issue 12, item 10, in money: a consumer who cancels and subscribes to another plan of the same
/// API within a cycle keeps the cycle, and the calls made under the first plan used the quota first.
/// </summary>
public sealed class ResubscribeInvoiceTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Theory, HardDateData]
    public async Task Invoice_PlanSwitchedWithinTheCycle_SecondPlanIncludesOnlyWhatTheFirstLeft(string startedAt)
    {
        var (anchor, boundary, start) = Cycles.FirstRenewal(HardDates.Parse(startedAt), TimeSpan.FromHours(3));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var basic = await Customer.CreateAsync(world, new CreatePlanRequest
        {
            BasePriceMinor = 300, PricePerCallMinor = 2, MonthlyQuota = 10, OveragePricePerCallMinor = 5, OverageAllowed = true, Currency = "EUR",
        }, anchor);
        await world.IngestAsync(basic.Calls(8, start.AddHours(-3)));

        // Cancelled, then another plan of the same API within the cycle: a new subscription on the same anchor.
        await world.CancelAtAsync(basic, start.AddHours(-2));
        var proPlan = (await world.SubscriptionsClient.CreatePlanAsync(new CreatePlanRequest
        {
            ApiId = basic.ApiId, Name = "Pro", RequestsPerSecond = 100, BasePriceMinor = 500, PricePerCallMinor = 3, MonthlyQuota = 10,
            OveragePricePerCallMinor = 6, OverageAllowed = true, Currency = "EUR",
        }, basic.Provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
        var switchedAt = start.AddHours(-1);
        var subscription = await world.SubscribeAtAsync(basic.Consumer, proPlan.Id, switchedAt);
        Assert.Equal(anchor, subscription.CycleAnchorTime.ToDateTimeOffset());
        var pro = new Customer(basic.Provider, basic.ApiId, proPlan, basic.Consumer, subscription.Id, anchor);
        await world.IngestAsync(pro.Calls(6, switchedAt.AddMinutes(1)));

        // After the cycle and its grace period, both invoices are final.
        world.Clock.SetUtcNow(boundary + Grace);
        await world.ReconcileAsync(manager);
        var first = await FinalAsync(world, basic, anchor);
        var second = await FinalAsync(world, pro, anchor);

        // The first plan: 8 of its 10 calls, its fee. The second: its fee, 2 calls left in the quota, 4 beyond.
        Assert.Equal([(LineKind.BaseFee, 1L, 300L, 300L), (LineKind.IncludedCalls, 8L, 2L, 16L)],
            first.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal(0, first.Terms.QuotaUsedBefore);
        Assert.Equal(8, second.Terms.QuotaUsedBefore);
        Assert.Equal([(LineKind.BaseFee, 1L, 500L, 500L), (LineKind.IncludedCalls, 2L, 3L, 6L), (LineKind.OverageCalls, 4L, 6L, 24L)],
            second.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal(530L, second.TotalMinor);
        // No period of the second subscription from before it existed.
        Assert.DoesNotContain(await world.InvoicesAsync(basic.Consumer, subscription.Id), i => i.PeriodEnd.ToDateTimeOffset() <= switchedAt);

        // A second reconciliation finds nothing to adjust: the stored share of the quota prices the recount the same way.
        var again = await world.ReconcileAsync(manager);
        Assert.Equal((0, 0), (again.DifferencesFound, again.AdjustmentsCreated));
    }

    private static async Task<Invoice> FinalAsync(World world, Customer customer, DateTimeOffset periodStart)
    {
        var invoice = (await world.InvoicesAsync(customer.Consumer, customer.SubscriptionId)).Single(i => i.PeriodStart.ToDateTimeOffset() == periodStart);
        Assert.Equal(InvoiceStatus.Finalized, invoice.Status);
        return invoice;
    }
}
