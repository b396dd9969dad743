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
        var (anchor, _, start) = Cycles.EndingSoon(TimeSpan.FromDays(3));
        await using var world = World.Start(fleet, start);
        var manager = await fleet.BillingManagerAsync();
        var customer = await Customer.CreateAsync(fleet, new CreatePlanRequest { PricePerCallMinor = 4, Currency = "USD" }, anchor);
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
    public async Task SubscriptionsDown_CycleWaitsPastItsGraceAndIsFinalisedWhenBack()
    {
        var (anchor, boundary, start) = Cycles.EndingSoon(TimeSpan.FromMinutes(30));
        var subscriptionsData = Directory.CreateTempSubdirectory("veil-billing-subscriptions-").FullName;
        try
        {
            var subscriptions = new ServiceHost<Veil.Subscriptions.Grpc.SubscriptionsGrpcService>(subscriptionsData)
                .With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
                .With("services:catalog:grpc:0", fleet.Catalog.GrpcUrl.ToString());
            await using var world = World.Start(fleet, start, subscriptions);
            subscriptions.Start();
            var client = new SubscriptionService.SubscriptionServiceClient(world.Channel(subscriptions.GrpcUrl));
            var customer = await Customer.CreateAsync(fleet, new CreatePlanRequest { PricePerCallMinor = 4, Currency = "USD" }, anchor, client);
            var grpcUrl = subscriptions.GrpcUrl;
            await subscriptions.DisposeAsync();

            // Billing has never seen this plan: the cycle cannot be priced while subscriptions is down,
            // and the sync watermark must stay below it even after its grace period has passed.
            await world.IngestAsync(customer.Calls(2, start.AddMinutes(-10)));
            world.Clock.SetUtcNow(boundary + Grace + TimeSpan.FromMinutes(1));
            var held = boundary.ToUnixTimeMilliseconds() - 1;
            await world.PumpUntilAsync(async () => (long)(await world.Billing.QueryAsync("SELECT watermark_ms FROM sync_state;"))[0][0]! == held,
                "the sync ran and kept the unpriced cycle in view");
            Assert.Empty(await world.InvoicesAsync(customer.Consumer));

            await using var back = new ServiceHost<Veil.Subscriptions.Grpc.SubscriptionsGrpcService>(subscriptionsData)
                .With("Veil:Auth:Authority", fleet.Identity.HttpUrl.ToString())
                .With("services:catalog:grpc:0", fleet.Catalog.GrpcUrl.ToString())
                .With("Kestrel:Endpoints:Grpc:Url", grpcUrl.ToString())
                .Start();
            await world.PumpUntilAsync(async () => await world.InvoicesAsync(customer.Consumer) is [{ Status: InvoiceStatus.Finalized }],
                "the cycle was invoiced and finalised once subscriptions answered");
            var invoice = (await world.InvoicesAsync(customer.Consumer)).Single();
            Assert.Equal((2L, 8L, anchor), (invoice.BillableCalls, invoice.TotalMinor, invoice.PeriodStart.ToDateTimeOffset()));
        }
        finally
        {
            try
            {
                Directory.Delete(subscriptionsData, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the temp folder is cleaned anyway.
            }
        }
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
