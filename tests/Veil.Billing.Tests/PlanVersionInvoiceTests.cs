using System.Security.Cryptography;
using System.Text.Json;
using Veil.Billing.V1;
using Veil.Subscriptions.V1;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Billing.Tests;

/// <summary>
/// Issue 15, item 6, in money: a plan changed during a subscriber's cycle leaves that cycle's
/// invoice at the old terms and prices the next cycle at the new ones; the subscriber is told once,
/// with both terms and the date the new ones apply.
/// </summary>
public sealed class PlanVersionInvoiceTests(Fleet fleet)
{
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task Invoice_PlanChangedMidCycle_CycleAtOldPrice_NextCycleAtNewPrice_SubscriberNoticedOnce()
    {
        // Cycles anchored 2027-01-01: the change on 2027-02-15 falls in the cycle that ends as February does.
        var anchor = HardDates.Parse("2027-01-01T00:00:00Z");
        var february = HardDates.Parse("2027-02-01T00:00:00Z");
        var march = HardDates.Parse("2027-03-01T00:00:00Z");
        var april = HardDates.Parse("2027-04-01T00:00:00Z");
        var changedAt = HardDates.Parse("2027-02-15T12:00:00Z");
        await using var world = World.Start(fleet, changedAt);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest
        {
            BasePriceMinor = 300, PricePerCallMinor = 2, MonthlyQuota = 100, OverageAllowed = true, Currency = "EUR",
        }, anchor);
        await world.UsageClient.SetWebhookAsync(new SetWebhookRequest
        {
            Url = "http://127.0.0.1:9/hooks/veil",
            Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        }, customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct);

        var changed = (await world.SubscriptionsClient.UpdatePlanAsync(new UpdatePlanRequest
        {
            PlanId = customer.Plan.Id, BasePriceMinor = 400, PricePerCallMinor = 3,
        }, customer.Provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
        Assert.Equal(2L, changed.Version);

        // The edge stamps each call with the terms of its cycle: version 1 up to the last millisecond of February, version 2 after.
        world.Clock.SetUtcNow(march);
        await world.IngestAsync(customer.Calls(4, march.AddSeconds(-4)));
        await world.IngestAsync((customer with { Plan = changed }).Calls(6, march));

        world.Clock.SetUtcNow(april + Grace);
        await world.ReconcileAsync(manager);
        var old = await FinalAsync(world, customer, february);
        var next = await FinalAsync(world, customer, march);

        Assert.Equal([(LineKind.BaseFee, 1L, 300L, 300L), (LineKind.IncludedCalls, 4L, 2L, 8L)],
            old.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal([(LineKind.BaseFee, 1L, 400L, 400L), (LineKind.IncludedCalls, 6L, 3L, 18L)],
            next.Lines.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());

        // One notice, queued in usage's webhook outbox under the deterministic id, whatever the retries.
        await world.PumpUntilAsync(async () => (await PlanNoticesAsync(world)).Count > 0, "the plan.changed notice reached usage");
        var notice = Assert.Single(await PlanNoticesAsync(world));
        Assert.Equal($"plan.changed:{customer.Plan.Id}:2:{customer.SubscriptionId}", notice.DedupKey);
        Assert.Equal(customer.SubscriptionId, notice.Body.GetProperty("subscriptionId").GetString());
        Assert.Equal((1, 2), (notice.Body.GetProperty("oldVersion").GetInt32(), notice.Body.GetProperty("newVersion").GetInt32()));
        Assert.Equal((2L, 300L), (notice.Body.GetProperty("oldTerms").GetProperty("pricePerCallMinor").GetInt64(),
            notice.Body.GetProperty("oldTerms").GetProperty("basePriceMinor").GetInt64()));
        Assert.Equal((3L, 400L), (notice.Body.GetProperty("newTerms").GetProperty("pricePerCallMinor").GetInt64(),
            notice.Body.GetProperty("newTerms").GetProperty("basePriceMinor").GetInt64()));
        Assert.Equal(march, notice.Body.GetProperty("effectiveTime").GetDateTimeOffset());
    }

    [Fact]
    public async Task PlanNotice_UsageDownDuringTheChange_SentWhenItIsBack_QueuedOnceWhateverTheRetries()
    {
        await using var world = World.Start(fleet, HardDates.Parse("2027-02-15T12:00:00Z"));
        var customer = await Customer.CreateAsync(world, new CreatePlanRequest { PricePerCallMinor = 2 }, HardDates.Parse("2027-01-31T09:00:00Z"));
        await world.UsageClient.SetWebhookAsync(new SetWebhookRequest
        {
            Url = "http://127.0.0.1:9/hooks/veil",
            Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        }, customer.Consumer.Headers, Fleet.Deadline, Fleet.Ct);
        await world.StopUsageAsync();

        // The change does not wait for usage: the notice is stored with the new version.
        var changed = (await world.SubscriptionsClient.UpdatePlanAsync(new UpdatePlanRequest { PlanId = customer.Plan.Id, PricePerCallMinor = 3 },
            customer.Provider.Headers, Fleet.Deadline, Fleet.Ct)).Plan;
        Assert.Equal(2L, changed.Version);
        await Eventually.HoldsAsync(() => Task.FromResult(world.Subscriptions.Logs.Count(3204) > 0), TimeSpan.FromSeconds(30),
            "subscriptions found usage down");

        world.RestartUsage();
        await Eventually.HoldsAsync(async () => (await PlanNoticesAsync(world)).Count > 0, TimeSpan.FromSeconds(30), "the notice reached usage");
        await Eventually.HoldsAsync(async () => (long)(await world.Subscriptions.QueryAsync("SELECT COUNT(*) FROM plan_notices WHERE sent_at IS NULL"))[0][0]! == 0,
            TimeSpan.FromSeconds(30), "subscriptions marked the notice sent");

        // Sent again (as after a crash between usage's answer and the mark): usage still holds it once.
        await world.Subscriptions.QueryAsync("UPDATE plan_notices SET sent_at = NULL");
        await Eventually.HoldsAsync(async () => (long)(await world.Subscriptions.QueryAsync("SELECT COUNT(*) FROM plan_notices WHERE sent_at IS NULL"))[0][0]! == 0,
            TimeSpan.FromSeconds(30), "subscriptions sent the notice again");
        var notice = Assert.Single(await PlanNoticesAsync(world));
        Assert.Equal($"plan.changed:{customer.Plan.Id}:2:{customer.SubscriptionId}", notice.DedupKey);
        // Anchored on the 31st: the cycle in progress ends on the last day of February.
        Assert.Equal(HardDates.Parse("2027-02-28T09:00:00Z"), notice.Body.GetProperty("effectiveTime").GetDateTimeOffset());
    }

    private static async Task<List<(string DedupKey, JsonElement Body)>> PlanNoticesAsync(World world) =>
        (await world.Usage.QueryAsync("SELECT dedup_key, payload FROM notifications WHERE type = 'plan.changed'"))
            .Select(row => ((string)row[0]!, JsonDocument.Parse((string)row[1]!).RootElement.Clone())).ToList();

    private static async Task<Invoice> FinalAsync(World world, Customer customer, DateTimeOffset periodStart)
    {
        var invoice = (await world.InvoicesAsync(customer.Consumer, customer.SubscriptionId)).Single(i => i.PeriodStart.ToDateTimeOffset() == periodStart);
        Assert.Equal(InvoiceStatus.Finalized, invoice.Status);
        return invoice;
    }
}
