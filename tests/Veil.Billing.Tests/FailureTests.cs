using System.Diagnostics;
using Microsoft.Extensions.Options;
using Veil.Billing.Grpc;
using Veil.Billing.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Neighbours down, and bad configuration.</summary>
public sealed class FailureTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task UsageDown_ReadsServeLastDraftRunFailsAndJobsRecover()
    {
        var (anchor, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 4, Currency = "USD" }, anchor);
        await world.IngestAsync(customer.Calls(3, start.AddMinutes(-5)));
        await world.PumpUntilAsync(async () => await world.InvoicesAsync(customer.Consumer) is [{ BillableCalls: 3 }], "the draft shows 3 calls");
        var draft = (await world.InvoicesAsync(customer.Consumer)).Single();

        await world.StopUsageAsync();
        var stopwatch = Stopwatch.StartNew();
        var served = await world.GetInvoiceAsync(customer.Consumer, draft.Id);
        var elapsed = stopwatch.Elapsed;
        var failed = await world.ReconcileAsync(manager);

        Assert.Equal(draft, served);
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"took {elapsed}");
        Assert.Equal(ReconciliationStatus.Failed, failed.Status);
        Assert.Contains("Usage did not answer", failed.Error);
        Assert.NotNull(failed.FinishTime);

        world.RestartUsage();
        await world.IngestAsync(customer.Calls(2, start.AddMinutes(-1)));
        await world.PumpUntilAsync(async () => await world.InvoicesAsync(customer.Consumer) is [{ BillableCalls: 5, TotalMinor: 20 }],
            "the sync job recovered and the draft shows 5 calls");
        var recovered = await world.ReconcileAsync(manager);
        Assert.Equal(ReconciliationStatus.Succeeded, recovered.Status);
        var runs = (await world.Client.ListReconciliationRunsAsync(new ListReconciliationRunsRequest(), manager.Headers, Fleet.Deadline, Fleet.Ct)).Runs;
        Assert.Equal([ReconciliationStatus.Succeeded, ReconciliationStatus.Failed], runs.Select(r => r.Status).ToArray());
    }

    [Fact]
    public async Task SubscriptionsDown_LoggedOncePerOutageNothingInvoicedAndCaughtUpWhenBack()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        // Subscriptions is down from the start, so billing's first sync fails to list and knows no plan.
        await using var world = World.Start(fleet, start, startSubscriptions: false);
        await Eventually.HoldsAsync(() => Task.FromResult(world.Billing.Logs.Count(BillingEvents.SyncCompleted) >= 1), TimeSpan.FromSeconds(30),
            "the first sync ran");
        // Up just long enough to sign two customers up; the clock stands still, so no sync runs meanwhile.
        await world.RestartSubscriptionsAsync();
        var busy = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 4, Currency = "USD" }, anchor);
        var idle = await Customer.CreateAsync(world, new CreatePlanRequest { BasePriceMinor = 2_500, Currency = "EUR" }, anchor);
        await world.StopSubscriptionsAsync();

        // Past the first period's end and grace: nothing can be invoiced (no listing, no plan for the
        // busy cycle), so nothing is, and the watermark holds where it was; said once, not per tick.
        await world.IngestAsync(busy.Calls(2, start.AddMinutes(-10)));
        world.Clock.SetUtcNow(boundary + Grace + TimeSpan.FromMinutes(1));
        await world.SyncsAsync(3);

        Assert.Empty(await world.InvoicesAsync(busy.Consumer));
        Assert.Empty(await world.InvoicesAsync(idle.Consumer));
        Assert.Equal(0L, (long)(await world.Billing.QueryAsync("SELECT watermark_ms FROM sync_state;"))[0][0]!);
        Assert.Equal(1, world.Billing.Logs.Count(BillingEvents.SubscriptionsListingUnavailable));
        Assert.Equal(0, world.Billing.Logs.Count(BillingEvents.SubscriptionsListingBack));
        Assert.All(world.Billing.Logs.Entries.Where(e => e.EventId == BillingEvents.SyncCompleted), e => Assert.False((bool)e.Values["Listed"]!));

        // Back: both first periods are invoiced and finalised at once (they are due), the second ones drafted.
        await world.RestartSubscriptionsAsync();
        await world.PumpUntilAsync(async () =>
            (await world.InvoicesAsync(busy.Consumer)).Concat(await world.InvoicesAsync(idle.Consumer))
                .Count(i => i.PeriodStart.ToDateTimeOffset() == anchor && i.Status == InvoiceStatus.Finalized) == 2,
            "both first periods were finalised once subscriptions answered");

        var busyFinal = await world.InvoiceForAsync(busy.Consumer, anchor);
        var idleFinal = await world.InvoiceForAsync(idle.Consumer, anchor);
        Assert.Equal((2L, 8L, "USD"), (busyFinal.BillableCalls, busyFinal.TotalMinor, busyFinal.Currency));
        Assert.Equal((0L, 2_500L, "EUR"), (idleFinal.BillableCalls, idleFinal.TotalMinor, idleFinal.Currency));
        Assert.Equal((InvoiceStatus.Draft, InvoiceStatus.Draft),
            ((await world.InvoiceForAsync(busy.Consumer, boundary)).Status, (await world.InvoiceForAsync(idle.Consumer, boundary)).Status));
        Assert.Equal(1, world.Billing.Logs.Count(BillingEvents.SubscriptionsListingUnavailable));
        var back = Assert.Single(world.Billing.Logs.Entries, e => e.EventId == BillingEvents.SubscriptionsListingBack);
        Assert.True((int)back.Values["FailedSyncs"]! >= 4, back.Message);
    }

    [Theory]
    [InlineData("Billing:FinalizationGrace", "00:04:59")]
    [InlineData("Billing:DraftRefreshInterval", "00:00:00")]
    [InlineData("Billing:ReconciliationLookback", "12:00:00")]
    [InlineData("Billing:CreditHoldThresholdMinor:usd", "5")]
    [InlineData("Billing:CreditHoldThresholdMinor:GBP", "-1")]
    public async Task Start_InvalidOption_RefusedAtStart(string key, string value)
    {
        await using var host = new ServiceHost<BillingGrpcService>().With(key, value);

        var ex = Assert.ThrowsAny<Exception>(() => host.Start());

        var validation = ex as OptionsValidationException ?? ex.InnerException as OptionsValidationException
            ?? Assert.IsType<OptionsValidationException>(ex.GetBaseException());
        Assert.Contains(key.Split(':')[1], string.Join(" ", validation.Failures));
    }
}
