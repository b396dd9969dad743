using System.Net;
using System.Text.Json;
using Grpc.Core;
using Veil.Billing.V1;
using Veil.Identity.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Billing.Tests;

/// <summary>Who reads what: consumers their own invoices, providers their own APIs' revenue, staff everything.</summary>
public sealed class AccessTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task Invoices_AnotherConsumers_NotFound()
    {
        var (anchor, _, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var plan = new CreatePlanRequest { PricePerCallMinor = 2, Currency = "USD" };
        var alice = await Customer.CreateAsync(world, plan.Clone(), anchor);
        var bob = await Customer.CreateAsync(world, plan.Clone(), anchor);
        await world.IngestAsync([.. alice.Calls(2, start.AddMinutes(-5)), .. bob.Calls(3, start.AddMinutes(-5))]);
        await world.PumpUntilAsync(async () => (await world.InvoicesAsync(alice.Consumer)).Count == 1 && (await world.InvoicesAsync(bob.Consumer)).Count == 1,
            "both drafts exist");
        var alices = (await world.InvoicesAsync(alice.Consumer)).Single();

        var bobs = await world.InvoicesAsync(bob.Consumer);
        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.GetInvoiceAsync(new GetInvoiceRequest { InvoiceId = alices.Id }, bob.Consumer.Headers,
            Fleet.Deadline, Fleet.Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.ListInvoicesAsync(new ListInvoicesRequest { AccountId = alice.Consumer.Id },
            bob.Consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.ListAdjustmentsAsync(new ListAdjustmentsRequest { AccountId = alice.Consumer.Id },
            bob.Consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.GetAccountStatusAsync(new GetAccountStatusRequest { AccountId = alice.Consumer.Id },
            bob.Consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        using var rest = world.Rest(bob.Consumer);
        using var response = await rest.GetAsync($"v1/invoices/{alices.Id}", Fleet.Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.NotFound);

        Assert.Equal([(bob.SubscriptionId, 3L)], bobs.Select(i => (i.SubscriptionId, i.BillableCalls)).ToArray());
        Assert.DoesNotContain(alice.Consumer.Id, problem.ToString());
        // The API's provider reads revenue, not its consumers' invoices.
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.GetInvoiceAsync(new GetInvoiceRequest { InvoiceId = alices.Id },
            alice.Provider.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        // Staff read everything.
        foreach (var staff in new[] { await fleet.BillingManagerAsync(), await fleet.AdminAsync() })
        {
            Assert.Equal(alices.Id, (await world.GetInvoiceAsync(staff, alices.Id)).Id);
            var listed = await world.Client.ListInvoicesAsync(new ListInvoicesRequest { AccountId = bob.Consumer.Id }, staff.Headers, Fleet.Deadline, Fleet.Ct);
            Assert.Equal(bobs.Select(i => i.Id), listed.Invoices.Select(i => i.Id));
        }
        using var own = await rest.GetAsync($"v1/invoices/{bobs[0].Id}", Fleet.Ct);
        var json = JsonDocument.Parse(await own.Content.ReadAsStringAsync(Fleet.Ct)).RootElement.GetProperty("invoice");
        Assert.Equal(("DRAFT", 6L), (json.GetProperty("status").GetString(), json.GetProperty("totalMinor").GetInt64()));
        // An enum in the query reads with or without its type prefix (REST conventions).
        foreach (var status in new[] { "DRAFT", "INVOICE_STATUS_DRAFT" })
        {
            using var filtered = await rest.GetAsync($"v1/invoices?status={status}", Fleet.Ct);
            var page = JsonDocument.Parse(await filtered.Content.ReadAsStringAsync(Fleet.Ct)).RootElement;
            Assert.True(filtered.IsSuccessStatusCode, page.ToString());
            Assert.Equal([bobs[0].Id], page.GetProperty("invoices").EnumerateArray().Select(i => i.GetProperty("id").GetString()));
        }
    }

    [Fact]
    public async Task GetRevenue_Provider_SeesOnlyItsOwnApisFinalAndDraft()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(HardDates.Ordinary, TimeSpan.FromMinutes(30));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var mine = await Customer.CreateAsync(world, new CreatePlanRequest { BasePriceMinor = 100, PricePerCallMinor = 3, Currency = "EUR" }, anchor);
        var theirs = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 11, Currency = "EUR" }, anchor);
        await world.IngestAsync([.. mine.Calls(4, start.AddMinutes(-20)), .. theirs.Calls(2, start.AddMinutes(-20))]);
        world.Clock.SetUtcNow(boundary + Grace);
        await world.IngestAsync([.. mine.Calls(2, boundary.AddMinutes(1)), .. theirs.Calls(1, boundary.AddMinutes(1))]);
        await world.ReconcileAsync(manager);
        // A late call for the finalised cycle becomes a reconciliation adjustment, attributed to the API and its month.
        await world.IngestAsync([mine.Call(boundary.AddMinutes(-1))]);
        var run = await world.ReconcileAsync(manager);
        Assert.Equal(1, run.AdjustmentsCreated);

        var revenue = (await world.Client.GetRevenueAsync(new GetRevenueRequest(), mine.Provider.Headers, Fleet.Deadline, Fleet.Ct)).Entries;

        var closedMonth = MonthOf(anchor);
        var openMonth = MonthOf(boundary);
        // Final: 100 + 4 × 3 invoiced, + 3 adjusted. Draft: 100 + 2 × 3.
        Assert.Equal(
        [
            (mine.ApiId, "EUR", closedMonth, true, 115L, 4L, 1),
            (mine.ApiId, "EUR", openMonth, false, 106L, 2L, 1),
        ], revenue.Select(e => (e.ApiId, e.Currency, e.PeriodStart.ToDateTimeOffset(), e.Final, e.AmountMinor, e.BillableCalls, e.Invoices))
            .OrderBy(e => e.Item3).ToArray());
        Assert.All(revenue, e => Assert.Equal(e.PeriodStart.ToDateTimeOffset().AddMonths(1), e.PeriodEnd.ToDateTimeOffset()));

        await Expect.StatusAsync(StatusCode.NotFound, () => world.Client.GetRevenueAsync(new GetRevenueRequest { ProviderId = theirs.Provider.Id },
            mine.Provider.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        var filtered = await world.Client.GetRevenueAsync(new GetRevenueRequest { ApiId = theirs.ApiId }, mine.Provider.Headers, Fleet.Deadline, Fleet.Ct);
        Assert.Empty(filtered.Entries);
        await Expect.StatusAsync(StatusCode.PermissionDenied, () => world.Client.GetRevenueAsync(new GetRevenueRequest(),
            mine.Consumer.Headers, Fleet.Deadline, Fleet.Ct).ResponseAsync);
        var all = (await world.Client.GetRevenueAsync(new GetRevenueRequest(), manager.Headers, Fleet.Deadline, Fleet.Ct)).Entries;
        Assert.Equal(new[] { mine.ApiId, theirs.ApiId }.Order(), all.Select(e => e.ApiId).Distinct().Order());
        Assert.Equal(22L, all.Single(e => e.ApiId == theirs.ApiId && e.Final).AmountMinor);
        using var rest = world.Rest(mine.Provider);
        using var response = await rest.GetAsync($"v1/revenue?apiId={mine.ApiId}", Fleet.Ct);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Fleet.Ct)).RootElement;
        Assert.True(response.IsSuccessStatusCode, json.ToString());
        Assert.Equal(2, json.GetProperty("entries").GetArrayLength());
    }

    private static DateTimeOffset MonthOf(DateTimeOffset at) => new(at.UtcDateTime.Year, at.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
}
