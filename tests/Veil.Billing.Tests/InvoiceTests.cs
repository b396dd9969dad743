using Microsoft.Data.Sqlite;
using Veil.Billing.V1;
using Veil.Subscriptions.V1;
using Veil.Usage.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Invoices from usage and plans: drafts, the boundary, finalisation and immutability.</summary>
public sealed class InvoiceTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    /// <summary>On subscriptions that start on each hard date (the 31st, the leap day, a month's last millisecond …).</summary>
    [Theory, HardDateData]
    public async Task Invoice_BaseFeeAndOverageAcrossCycleBoundary_EqualsRawBillableCountsTimesPrices(string startedAt)
    {
        var (anchor, boundary, start) = Cycles.FirstRenewal(HardDates.Parse(startedAt), TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest
        {
            BasePriceMinor = 1_000, PricePerCallMinor = 3, MonthlyQuota = 5, OveragePricePerCallMinor = 7, OverageAllowed = true, Currency = "EUR",
        }, anchor);

        // Cycle 0: 8 billable calls, 2 refused by the edge (not billable), one a millisecond before the boundary.
        await world.IngestAsync(customer.Calls(8, start.AddHours(-2)));
        await world.IngestAsync(customer.Calls(2, start.AddHours(-1), billable: false));
        world.Clock.SetUtcNow(boundary.AddMinutes(2));
        await world.IngestAsync([customer.Call(boundary.AddMilliseconds(-1)), customer.Call(boundary), .. customer.Calls(3, boundary.AddMinutes(1))]);
        // Cycle 1 starts exactly at the boundary: 1 + 3 calls.
        var raw = await world.UsageClient.ListCycleUsageAsync(new ListCycleUsageRequest { SubscriptionId = customer.SubscriptionId, RecountFromEvents = true },
            deadline: Fleet.Deadline, cancellationToken: Fleet.Ct);
        Assert.Equal([9L, 4L], raw.Cycles.Select(c => c.BillableCalls).ToArray());

        // During the grace period both invoices are drafts that follow usage.
        await world.PumpUntilAsync(async () => await world.InvoicesAsync(customer.Consumer) is [{ BillableCalls: 4 }, { BillableCalls: 9 }],
            "drafts of both cycles show usage's counts");
        var drafts = await world.InvoicesAsync(customer.Consumer);
        Assert.All(drafts, d => Assert.Equal((InvoiceStatus.Draft, ""), (d.Status, d.Number)));
        Assert.Equal(1_000 + 4 * 3, drafts[0].TotalMinor);

        // After the end plus the grace period, cycle 0 is finalised from the raw events.
        world.Clock.SetUtcNow(boundary + Grace);
        await world.PumpUntilAsync(async () => (await world.InvoicesAsync(customer.Consumer))[1].Status == InvoiceStatus.Finalized, "cycle 0 finalised");

        var invoices = await world.InvoicesAsync(customer.Consumer);
        var (open, closed) = (invoices[0], invoices[1]);
        Assert.Equal((anchor, boundary), (closed.PeriodStart.ToDateTimeOffset(), closed.PeriodEnd.ToDateTimeOffset()));
        Assert.Equal((boundary, Cycles.Containing(anchor, boundary).End), (open.PeriodStart.ToDateTimeOffset(), open.PeriodEnd.ToDateTimeOffset()));
        Assert.Matches("^INV-[0-9]{6}$", closed.Number);
        Assert.Equal(("EUR", 9L, customer.SubscriptionId, customer.ApiId, customer.Provider.Id, customer.Plan.Id),
            (closed.Currency, closed.BillableCalls, closed.SubscriptionId, closed.ApiId, closed.ProviderId, closed.PlanId));
        Assert.Equal(
            [(LineKind.BaseFee, 1L, 1_000L, 1_000L), (LineKind.IncludedCalls, 5L, 3L, 15L), (LineKind.OverageCalls, 4L, 7L, 28L)],
            closed.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal((1_043L, 0L, 1_043L), (closed.SubtotalMinor, closed.AdjustmentsMinor, closed.TotalMinor));
        Assert.Equal(InvoiceStatus.Draft, open.Status);
        Assert.Equal([(LineKind.BaseFee, 1L, 1_000L, 1_000L), (LineKind.IncludedCalls, 4L, 3L, 12L)],
            open.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal(1_012L, open.TotalMinor);
    }

    /// <summary>On subscriptions that start on each hard date: reconciliation recounts the cycles billing drew.</summary>
    [Theory, HardDateData]
    public async Task Invoice_Finalized_NeverChangesAndLateEventsBecomeReconciliationAdjustmentOnNextInvoice(string startedAt)
    {
        var (anchor, boundary, start) = Cycles.FirstRenewal(HardDates.Parse(startedAt), TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 5, Currency = "USD" }, anchor);
        await world.IngestAsync(customer.Calls(3, start.AddMinutes(-20)));

        // A manual run after the grace period finalises the due draft from the recount.
        world.Clock.SetUtcNow(boundary + Grace);
        var first = await world.ReconcileAsync(manager);
        var final = await world.InvoiceForAsync(customer.Consumer, anchor);
        Assert.Equal((ReconciliationStatus.Succeeded, ReconciliationTrigger.Manual, manager.Id), (first.Status, first.Trigger, first.RequestedBy));
        Assert.Equal((InvoiceStatus.Finalized, 3L, 15L), (final.Status, final.BillableCalls, final.TotalMinor));

        // Two late calls of cycle 0 arrive after finalisation, and one call of cycle 1.
        await world.IngestAsync([.. customer.Calls(2, boundary.AddMinutes(-5)), customer.Call(boundary + Grace)]);
        await world.PumpUntilAsync(async () => (await world.InvoicesAsync(customer.Consumer)) is [{ BillableCalls: 1 }, _],
            "a sync ran after the late events (cycle 1's draft shows its call)");
        Assert.Equal(final, await world.GetInvoiceAsync(customer.Consumer, final.Id));

        var run = await world.ReconcileAsync(manager);

        Assert.Equal((ReconciliationStatus.Succeeded, 1, 1), (run.Status, run.DifferencesFound, run.AdjustmentsCreated));
        Assert.Equal([("USD", 10L)], run.Adjusted.Select(a => (a.Currency, a.AmountMinor)).ToArray());
        Assert.True(run.InvoicesChecked >= 2, $"checked {run.InvoicesChecked}");
        Assert.Equal(final, await world.GetInvoiceAsync(customer.Consumer, final.Id));
        var adjustment = (await world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest { InvoiceId = final.Id }, customer.Consumer.Headers,
            Fleet.Deadline, Fleet.Ct)).Adjustments.Single();
        Assert.Equal((AdjustmentKind.Debit, 10L, "USD", AdjustmentSource.Reconciliation, run.Id, "", "system"),
            (adjustment.Kind, adjustment.AmountMinor, adjustment.Currency, adjustment.Source, adjustment.ReconciliationRunId, adjustment.AppliedInvoiceId,
             adjustment.CreatedBy));

        // Reconciliation is idempotent: the difference is already adjusted.
        var again = await world.ReconcileAsync(manager);
        Assert.Equal((ReconciliationStatus.Succeeded, 0, 0), (again.Status, again.DifferencesFound, again.AdjustmentsCreated));
        var runs = (await world.Client.ListReconciliationRunsAsync(new ListReconciliationRunsRequest(), manager.Headers, Fleet.Deadline, Fleet.Ct)).Runs;
        Assert.Equal([again.Id, run.Id, first.Id], runs.Select(r => r.Id).ToArray());

        // The adjustment lands on the next finalised invoice of the account in that currency.
        var cycle1 = Cycles.Containing(anchor, boundary);
        world.Clock.SetUtcNow(cycle1.End + Grace);
        await world.PumpUntilAsync(async () => (await world.InvoiceForAsync(customer.Consumer, boundary)).Status == InvoiceStatus.Finalized,
            "cycle 1 finalised");
        var next = await world.InvoiceForAsync(customer.Consumer, boundary);
        Assert.Equal([(LineKind.IncludedCalls, 1L, 5L, 5L, ""), (LineKind.Adjustment, 1L, 10L, 10L, adjustment.Id)],
            next.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor, l.AdjustmentId)).ToArray());
        Assert.Equal((5L, 10L, 15L), (next.SubtotalMinor, next.AdjustmentsMinor, next.TotalMinor));
        var applied = (await world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Adjustments.Single();
        Assert.Equal(next.Id, applied.AppliedInvoiceId);
        Assert.Equal(final, await world.GetInvoiceAsync(customer.Consumer, final.Id));
        Assert.NotEqual(final.Number, next.Number);
    }

    [Fact]
    public async Task Database_FinalizedInvoiceAuditAndAdjustments_RefuseEdits()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 5, Currency = "USD" }, anchor);
        await world.IngestAsync(customer.Calls(2, start.AddMinutes(-10)));
        world.Clock.SetUtcNow(boundary + Grace);
        await world.ReconcileAsync(manager);
        var final = await world.InvoiceForAsync(customer.Consumer, anchor);
        await world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            AccountId = customer.Consumer.Id, Kind = AdjustmentKind.Credit, AmountMinor = 3, Currency = "USD", Reason = "Goodwill",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct);

        // The schema refuses what the code never does, so a bug or a hand-written fix cannot rewrite billed money.
        (string Sql, string Refusal)[] refused =
        [
            ($"UPDATE invoices SET total_minor = 0, subtotal_minor = 0 WHERE id = '{final.Id}';", "finalised invoices are immutable"),
            ($"DELETE FROM invoices WHERE id = '{final.Id}';", "finalised invoices are never deleted"),
            ($"UPDATE invoice_lines SET amount_minor = 0, quantity = 0 WHERE invoice_id = '{final.Id}';", "lines of finalised invoices are immutable"),
            ($"DELETE FROM invoice_lines WHERE invoice_id = '{final.Id}';", "lines of finalised invoices are immutable"),
            ($"INSERT INTO invoice_lines (invoice_id, position, kind, description, quantity, unit_price_minor, amount_minor) VALUES ('{final.Id}', 9, 1, 'x', 1, 1, 1);",
                "lines of finalised invoices are immutable"),
            ("UPDATE money_audit SET amount_minor = 0;", "money_audit is append-only"),
            ("DELETE FROM money_audit;", "money_audit is append-only"),
            ("UPDATE adjustments SET amount_minor = -1;", "adjustments are immutable"),
            ("DELETE FROM adjustments;", "adjustments are never deleted"),
        ];
        foreach (var (sql, refusal) in refused)
        {
            var ex = await Assert.ThrowsAsync<SqliteException>(() => world.Billing.QueryAsync(sql));
            Assert.Contains(refusal, ex.Message, StringComparison.Ordinal);
        }
        Assert.Equal(final, await world.GetInvoiceAsync(customer.Consumer, final.Id));
    }

    [Fact]
    public async Task Reconciliation_OnSchedule_RecordedAsSystemRun()
    {
        var (anchor, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start, configure: b => b.With("Billing:ReconciliationInterval", "00:00:30"));
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 2, Currency = "USD" }, anchor);
        await world.IngestAsync(customer.Calls(4, start.AddMinutes(-10)));

        ReconciliationRun? scheduled = null;
        await world.PumpUntilAsync(async () =>
        {
            var runs = await world.Client.ListReconciliationRunsAsync(new ListReconciliationRunsRequest(), manager.Headers, Fleet.Deadline, Fleet.Ct);
            scheduled = runs.Runs.FirstOrDefault(r => r.Status == ReconciliationStatus.Succeeded);
            return scheduled is not null;
        }, "a scheduled reconciliation ran");

        Assert.Equal((ReconciliationTrigger.Schedule, "system", ""), (scheduled!.Trigger, scheduled.RequestedBy, scheduled.Error));
        Assert.True(scheduled.InvoicesChecked >= 1);
        Assert.True(scheduled.FinishTime.ToDateTimeOffset() >= scheduled.StartTime.ToDateTimeOffset());
        Assert.Equal(start.AddDays(-62), scheduled.WindowStart.ToDateTimeOffset(), TimeSpan.FromMinutes(5));
        var invoice = (await world.InvoicesAsync(customer.Consumer)).Single();
        Assert.Equal((InvoiceStatus.Draft, 4L, 8L), (invoice.Status, invoice.BillableCalls, invoice.TotalMinor));
    }
}
