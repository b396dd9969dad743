using System.Net;
using System.Net.Http.Json;
using Grpc.Core;
using Veil.Billing.V1;
using Veil.Identity.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Credits, debits and payments: who may, what is audited, how they settle.</summary>
public sealed class MoneyTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    /// <summary>A world with one customer whose first cycle (2 calls × 5 USD) is finalised.</summary>
    private async Task<(World World, Customer Customer, Invoice Final, Account Manager)> FinalizedAsync()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        var world = World.Start(fleet, start);
        try
        {
            var manager = await fleet.BillingManagerAsync();
            var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 5, Currency = "USD" }, anchor);
            await world.IngestAsync(customer.Calls(2, start.AddMinutes(-10)));
            world.Clock.SetUtcNow(boundary + Grace);
            await world.ReconcileAsync(manager);
            var final = await world.InvoiceForAsync(customer.Consumer, anchor);
            Assert.Equal((InvoiceStatus.Finalized, 10L), (final.Status, final.TotalMinor));
            return (world, customer, final, manager);
        }
        catch
        {
            await world.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task CreateAdjustment_CreditAndDebit_AuditedWithWhoWhatWhyAndPendingInBalance()
    {
        var (world, customer, final, manager) = await FinalizedAsync();
        await using var disposeWorld = world;

        var credit = (await world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            AccountId = customer.Consumer.Id, Kind = AdjustmentKind.Credit, AmountMinor = 300, Currency = "USD", Reason = "  Goodwill for the outage  ",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct)).Adjustment;
        var debit = (await world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            InvoiceId = final.Id, Kind = AdjustmentKind.Debit, AmountMinor = 40, Reason = "Late fee",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct)).Adjustment;

        Assert.Equal((AdjustmentKind.Credit, 300L, "USD", "Goodwill for the outage", AdjustmentSource.Manual, manager.Id, "", ""),
            (credit.Kind, credit.AmountMinor, credit.Currency, credit.Reason, credit.Source, credit.CreatedBy, credit.InvoiceId, credit.AppliedInvoiceId));
        Assert.Equal((customer.Consumer.Id, "USD", final.Id, final.SubscriptionId, customer.ApiId),
            (debit.AccountId, debit.Currency, debit.InvoiceId, debit.SubscriptionId, debit.ApiId));
        var audit = (await world.Client.ListMoneyAuditAsync(new ListMoneyAuditRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Equal(
        [
            ("adjustment.created", manager.Id, debit.Id, final.Id, 40L, "Late fee"),
            ("adjustment.created", manager.Id, credit.Id, "", -300L, "Goodwill for the outage"),
            ("invoice.finalized", "system", "", final.Id, 10L, audit[2].Detail),
        ], audit.Select(e => (e.Action, e.Actor, e.AdjustmentId, e.InvoiceId, e.AmountMinor, e.Detail)).ToArray());
        Assert.Contains(final.Number, audit[2].Detail);
        Assert.All(audit, e => Assert.Equal("USD", e.Currency));
        Assert.Equal(world.Clock.GetUtcNow(), audit[0].Time.ToDateTimeOffset());

        // The finalised invoice is untouched; the adjustments wait for the next invoice and show in the balance.
        Assert.Equal(final, await world.GetInvoiceAsync(customer.Consumer, final.Id));
        var status = await world.Client.GetAccountStatusAsync(new GetAccountStatusRequest { AccountId = customer.Consumer.Id }, customer.Consumer.Headers,
            Fleet.Deadline, Fleet.Ct);
        var usd = Assert.Single(status.Balances);
        Assert.Equal(("USD", 10L, 1, -260L, false), (usd.Currency, usd.UnpaidMinor, usd.UnpaidInvoices, usd.PendingAdjustmentsMinor, usd.OverThreshold));
        var mine = (await world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest(), customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct)).Adjustments;
        Assert.Equal([debit.Id, credit.Id], mine.Select(a => a.Id).ToArray());
    }

    [Fact]
    public async Task MarkInvoicePaid_Finalized_PaidOnceAuditedAndIdempotent()
    {
        var (world, customer, final, manager) = await FinalizedAsync();
        await using var disposeWorld = world;

        var paid = (await world.Client.MarkInvoicePaidAsync(new MarkInvoicePaidRequest { InvoiceId = final.Id, PaymentReference = "bank-123" },
            manager.Headers, Fleet.Deadline, Fleet.Ct)).Invoice;
        world.Clock.Advance(TimeSpan.FromMinutes(1));
        var again = (await world.Client.MarkInvoicePaidAsync(new MarkInvoicePaidRequest { InvoiceId = final.Id, PaymentReference = "other" },
            manager.Headers, Fleet.Deadline, Fleet.Ct)).Invoice;

        Assert.Equal((InvoiceStatus.Paid, manager.Id, "bank-123", final.TotalMinor, final.Lines), (paid.Status, paid.PaidBy, paid.PaymentReference, paid.TotalMinor, paid.Lines));
        Assert.Equal(paid, again);
        Assert.Equal(paid, await world.GetInvoiceAsync(customer.Consumer, final.Id));
        var audit = (await world.Client.ListMoneyAuditAsync(new ListMoneyAuditRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Equal(["invoice.paid", "invoice.finalized"], audit.Select(e => e.Action).ToArray());
        Assert.Equal((manager.Id, 10L), (audit[0].Actor, audit[0].AmountMinor));
        var status = await world.Client.GetAccountStatusAsync(new GetAccountStatusRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct);
        Assert.Equal((0L, 0), (status.Balances.Single().UnpaidMinor, status.Balances.Single().UnpaidInvoices));
        var paidOnly = (await world.Client.ListInvoicesAsync(new ListInvoicesRequest { Status = InvoiceStatus.Paid }, customer.Consumer.Headers,
            Fleet.Deadline, Fleet.Ct)).Invoices;
        Assert.Equal([final.Id], paidOnly.Select(i => i.Id).ToArray());
    }

    [Fact]
    public async Task MarkInvoicePaid_DraftOrUnknown_Refused()
    {
        var (anchor, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 5, Currency = "USD" }, anchor);
        await world.IngestAsync(customer.Calls(1, start.AddMinutes(-1)));
        await world.PumpUntilAsync(async () => (await world.InvoicesAsync(customer.Consumer)).Count == 1, "the draft exists");
        var draft = (await world.InvoicesAsync(customer.Consumer)).Single();

        var ex = await Expect.StatusAsync(StatusCode.FailedPrecondition, () => world.Client.MarkInvoicePaidAsync(
            new MarkInvoicePaidRequest { InvoiceId = draft.Id }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.MarkInvoicePaidAsync(
            new MarkInvoicePaidRequest { InvoiceId = "inv_00000000000000000000" }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);

        Assert.Contains("draft", ex.Status.Detail);
        using var rest = world.Rest(manager);
        using var response = await rest.PostAsJsonAsync($"v1/invoices/{draft.Id}:markPaid", new { }, Fleet.Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task CreateAdjustment_SameRequestId_WrittenOnce()
    {
        var (world, customer, _, manager) = await FinalizedAsync();
        await using var disposeWorld = world;
        var request = new CreateAdjustmentRequest
        {
            AccountId = customer.Consumer.Id, Kind = AdjustmentKind.Credit, AmountMinor = 7, Currency = "USD", Reason = "Refund", RequestId = "ticket-42",
        };

        var first = (await world.Client.CreateAdjustmentAsync(request, manager.Headers, Fleet.Deadline, Fleet.Ct)).Adjustment;
        var retried = (await world.Client.CreateAdjustmentAsync(request, manager.Headers, Fleet.Deadline, Fleet.Ct)).Adjustment;
        request.AmountMinor = 8;
        await Expect.StatusAsync(StatusCode.AlreadyExists, () => world.Client.CreateAdjustmentAsync(request, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);

        Assert.Equal(first, retried);
        var all = (await world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Adjustments;
        Assert.Equal([first.Id], all.Select(a => a.Id).ToArray());
        var audit = (await world.Client.ListMoneyAuditAsync(new ListMoneyAuditRequest { AccountId = customer.Consumer.Id }, manager.Headers,
            Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Single(audit, e => e.Action == "adjustment.created");
    }

    [Fact]
    public async Task CreateAdjustment_InvalidFields_ProblemJsonWithEveryField()
    {
        var (_, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        using var rest = world.Rest(manager);

        using var empty = await rest.PostAsJsonAsync("v1/billing/adjustments", new { reason = " x ", requestId = "has space" }, Fleet.Ct);
        var problem = await Expect.ProblemAsync(empty, HttpStatusCode.BadRequest);
        Assert.Equal(["accountId", "amountMinor", "currency", "kind", "reason", "requestId"], Expect.ProblemFields(problem).Order().ToArray());

        using var bad = await rest.PostAsJsonAsync("v1/billing/adjustments",
            new { accountId = "acc_1", kind = "DEBIT", amountMinor = 1_000_000_000_000_001, currency = "usd", reason = "Fine reason" }, Fleet.Ct);
        problem = await Expect.ProblemAsync(bad, HttpStatusCode.BadRequest);
        Assert.Equal(["amountMinor", "currency"], Expect.ProblemFields(problem).Order().ToArray());

        var fields = await Expect.FieldErrorsAsync(() => world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            AccountId = "acc_1", Kind = AdjustmentKind.Credit, AmountMinor = -5, Currency = "USD", Reason = "",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        Assert.Equal(["amount_minor", "reason"], fields.Order().ToArray());

        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            InvoiceId = "inv_00000000000000000000", Kind = AdjustmentKind.Credit, AmountMinor = 5, Reason = "Refund",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        using var badHold = await rest.PostAsJsonAsync("v1/billing/accounts/acc_1:placeHold", new { reason = "" }, Fleet.Ct);
        Assert.Equal(["reason"], Expect.ProblemFields(await Expect.ProblemAsync(badHold, HttpStatusCode.BadRequest)));
        using var badPage = await rest.GetAsync("v1/invoices?pageSize=101&pageToken=%25%25", Fleet.Ct);
        Assert.Equal(["pageSize", "pageToken"], Expect.ProblemFields(await Expect.ProblemAsync(badPage, HttpStatusCode.BadRequest)).Order().ToArray());
        // A well-formed token of another list (the fleet's one format) is refused too.
        var invoicesToken = Veil.ServiceDefaults.Grpc.PageToken.Encode("ListInvoices", "0", "inv_x");
        using var foreignPage = await rest.GetAsync($"v1/billing/adjustments?pageToken={invoicesToken}", Fleet.Ct);
        Assert.Equal(["pageToken"], Expect.ProblemFields(await Expect.ProblemAsync(foreignPage, HttpStatusCode.BadRequest)));
        using var badRange = await rest.GetAsync("v1/revenue?startTime=2026-01-02T00:00:00Z&endTime=2026-01-01T00:00:00Z", Fleet.Ct);
        Assert.Equal(["endTime"], Expect.ProblemFields(await Expect.ProblemAsync(badRange, HttpStatusCode.BadRequest)));
    }

    [Fact]
    public async Task CreateAdjustment_InvoiceOfOtherCurrencyOrAccount_FieldError()
    {
        var (world, _, final, manager) = await FinalizedAsync();
        await using var disposeWorld = world;
        var other = await fleet.SignUpAsync(Role.Consumer);

        var currency = await Expect.FieldErrorsAsync(() => world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            InvoiceId = final.Id, Kind = AdjustmentKind.Credit, AmountMinor = 5, Currency = "EUR", Reason = "Refund",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        var account = await Expect.FieldErrorsAsync(() => world.Client.CreateAdjustmentAsync(new CreateAdjustmentRequest
        {
            InvoiceId = final.Id, AccountId = other.Id, Kind = AdjustmentKind.Credit, AmountMinor = 5, Reason = "Refund",
        }, manager.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);

        Assert.Equal(["currency"], currency);
        Assert.Equal(["account_id"], account);
        Assert.Empty((await world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest(), manager.Headers, Fleet.Deadline, Fleet.Ct)).Adjustments);
    }

    [Fact]
    public async Task MoneyRpcs_ConsumerProviderOrAnonymous_Refused()
    {
        var (_, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var consumer = await fleet.SignUpAsync(Role.Consumer);
        var provider = await fleet.SignUpAsync(Role.Provider);
        var adjustment = new CreateAdjustmentRequest { AccountId = consumer.Id, Kind = AdjustmentKind.Credit, AmountMinor = 5, Currency = "USD", Reason = "Mine" };

        foreach (var caller in new[] { consumer, provider })
        {
            await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.CreateAdjustmentAsync(adjustment, caller.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.MarkInvoicePaidAsync(
                new MarkInvoicePaidRequest { InvoiceId = "inv_00000000000000000000" }, caller.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.RunReconciliationAsync(
                new RunReconciliationRequest(), caller.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.ListMoneyAuditAsync(
                new ListMoneyAuditRequest(), caller.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
            await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.PlaceCreditHoldAsync(
                new PlaceCreditHoldRequest { AccountId = consumer.Id, Reason = "Because" }, caller.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        }
        using var rest = world.Rest(consumer);
        using var forbidden = await rest.PostAsJsonAsync("v1/billing/adjustments", new { accountId = consumer.Id, kind = "CREDIT", amountMinor = 5, currency = "USD", reason = "Mine" }, Fleet.Ct);
        await Expect.ProblemAsync(forbidden, HttpStatusCode.Forbidden);
        using var anonymous = world.Rest();
        using var unauthenticated = await anonymous.GetAsync("v1/invoices", Fleet.Ct);
        await Expect.ProblemAsync(unauthenticated, HttpStatusCode.Unauthorized);
    }
}
