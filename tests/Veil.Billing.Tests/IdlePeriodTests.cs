using Veil.Billing.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Periods without a single call: invoiced from subscriptions' listing, once, at the base fee.</summary>
public sealed class IdlePeriodTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task Sync_BaseFeeAndNoCalls_FinalisedAtBaseFeeOnceWhateverTheRuns()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { BasePriceMinor = 2_500, PricePerCallMinor = 3, Currency = "EUR" }, anchor);

        // The open period has a draft although usage has never seen the subscription.
        await world.PumpUntilAsync(async () => (await world.InvoicesAsync(customer.Consumer)).Count == 1, "a draft for the open period");
        var draft = (await world.InvoicesAsync(customer.Consumer)).Single();
        Assert.Equal((InvoiceStatus.Draft, anchor, boundary, 0L, 2_500L),
            (draft.Status, draft.PeriodStart.ToDateTimeOffset(), draft.PeriodEnd.ToDateTimeOffset(), draft.BillableCalls, draft.TotalMinor));
        Assert.Equal((customer.SubscriptionId, customer.ApiId, customer.Provider.Id, customer.Plan.Id, "EUR"),
            (draft.SubscriptionId, draft.ApiId, draft.ProviderId, draft.PlanId, draft.Currency));
        Assert.Equal([(LineKind.BaseFee, 1L, 2_500L, 2_500L)], draft.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());

        // After the period's end and the grace: finalised, from a recount that found no call, at the base fee.
        world.Clock.SetUtcNow(boundary + Grace);
        await world.PumpUntilAsync(async () => (await world.InvoiceForAsync(customer.Consumer, anchor)).Status == InvoiceStatus.Finalized,
            "the idle period was finalised");
        var final = await world.InvoiceForAsync(customer.Consumer, anchor);
        Assert.Equal((draft.Id, 0L, 2_500L, 0L, 2_500L), (final.Id, final.BillableCalls, final.SubtotalMinor, final.AdjustmentsMinor, final.TotalMinor));
        Assert.Matches("^INV-[0-9]{6}$", final.Number);

        // Many more runs of the job, and a reconciliation, change nothing: one invoice per period, finalised once.
        await world.SyncsAsync(5);
        var run = await world.ReconcileAsync(manager);
        await world.SyncsAsync(2);

        var invoices = await world.InvoicesAsync(customer.Consumer);
        Assert.Equal([(boundary, InvoiceStatus.Draft), (anchor, InvoiceStatus.Finalized)],
            invoices.Select(i => (i.PeriodStart.ToDateTimeOffset(), i.Status)).ToArray());
        Assert.Equal(final, invoices[1]);
        Assert.Equal((ReconciliationStatus.Succeeded, 0), (run.Status, run.AdjustmentsCreated));
        var audit = (await world.Client.ListMoneyAuditAsync(new ListMoneyAuditRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Equal([("invoice.finalized", final.Id, 2_500L)], audit.Select(e => (e.Action, e.InvoiceId, e.AmountMinor)).ToArray());
        Assert.Equal([(1L, 1L)], (await world.Billing.QueryAsync(
            $"SELECT count(*), count(DISTINCT number) FROM invoices WHERE subscription_id = '{customer.SubscriptionId}' AND status = 2;"))
            .Select(r => ((long)r[0]!, (long)r[1]!)).ToArray());

        // A call in the next period lands on that period's draft, beside its base fee: the same invoice.
        var next = invoices[0];
        await world.IngestAsync([customer.Call(world.Clock.GetUtcNow().AddSeconds(-1))]);
        await world.PumpUntilAsync(async () => (await world.InvoiceForAsync(customer.Consumer, boundary)).BillableCalls == 1, "the call reached the draft");
        var merged = await world.InvoiceForAsync(customer.Consumer, boundary);
        Assert.Equal((next.Id, 2_503L), (merged.Id, merged.TotalMinor));
        Assert.Equal([(LineKind.BaseFee, 2_500L), (LineKind.IncludedCalls, 3L)], merged.Lines.Select(l => (l.Kind, l.AmountMinor)).ToArray());
    }

    [Fact]
    public async Task Sync_CancelledMidPeriod_ThatPeriodBilledOnceAndNothingAfter()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { BasePriceMinor = 900, Currency = "USD" }, anchor);
        var canceled = await world.CancelAtAsync(customer, start.AddDays(-2));
        Assert.Equal(SubscriptionStatus.Canceled, canceled.Status);

        // The period it was cancelled in is billed in full at its end (no proration)...
        world.Clock.SetUtcNow(boundary + Grace);
        await world.PumpUntilAsync(async () => await world.InvoicesAsync(customer.Consumer) is [{ Status: InvoiceStatus.Finalized }],
            "the cancelled period was finalised");
        // ...and no later period is, even once it has ended.
        world.Clock.SetUtcNow(Cycles.Containing(anchor, boundary).End + Grace);
        await world.SyncsAsync(3);

        var invoice = (await world.InvoicesAsync(customer.Consumer)).Single();
        Assert.Equal((anchor, boundary, InvoiceStatus.Finalized, 900L),
            (invoice.PeriodStart.ToDateTimeOffset(), invoice.PeriodEnd.ToDateTimeOffset(), invoice.Status, invoice.TotalMinor));
    }
}
