using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Grpc.Core;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>
/// Credit holds need billing's answer for paid plans only. Holds themselves (billing says "on hold")
/// are tested with the real billing service in Veil.Billing.Tests; here billing is absent or broken.
/// </summary>
public sealed class BillingFailureTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Subscribe_BillingNotConfigured_PaidPlanAllowed()
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var consumer = await fixture.SignUpConsumerAsync();
        var paid = (await fixture.Client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Paid", RequestsPerSecond = 1, BasePriceMinor = 100 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

        var subscription = await fixture.SubscribeAsync(consumer, paid);

        Assert.Equal(SubscriptionStatus.Active, subscription.Status);
    }

    [Theory]
    [InlineData(1, 0, 0, 0)]
    [InlineData(0, 1, 0, 0)]
    [InlineData(0, 0, 1, 10)]
    public async Task Subscribe_BillingDown_PaidPlanUnavailableFreePlanAllowed(long pricePerCall, long basePrice, long overagePrice, long quota)
    {
        var provider = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(provider);
        var other = await fixture.CreateApiAsync(provider);
        var consumer = await fixture.SignUpConsumerAsync();
        await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl)
            .With("services:billing:grpc:0", $"http://127.0.0.1:{FreePort.Next()}/")
            .Start();
        using var channel = host.CreateGrpcChannel();
        var client = new SubscriptionService.SubscriptionServiceClient(channel);
        var paid = (await client.CreatePlanAsync(new CreatePlanRequest
        {
            ApiId = api.Id, Name = "Paid", RequestsPerSecond = 1, PricePerCallMinor = pricePerCall, BasePriceMinor = basePrice,
            OveragePricePerCallMinor = overagePrice, MonthlyQuota = quota,
        }, provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;
        // An overage price without a quota never applies: such a plan costs nothing.
        var free = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = other.Id, Name = "Free", RequestsPerSecond = 1, OveragePricePerCallMinor = 5 },
            provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

        var ex = await Expect.StatusAsync(StatusCode.Unavailable, () => client.SubscribeAsync(
            new SubscribeRequest { PlanId = paid.Id }, consumer.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = free.Id }, consumer.Headers, SubscriptionsFixture.Deadline, Ct)).Subscription;

        Assert.Contains("billing", ex.Status.Detail);
        Assert.Equal(SubscriptionStatus.Active, subscription.Status);
        using var rest = host.CreateRestClient();
        rest.DefaultRequestHeaders.Authorization = new("Bearer", consumer.Token);
        using var response = await rest.PostAsJsonAsync("v1/subscriptions", new { planId = paid.Id }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        var mine = await client.ListSubscriptionsAsync(new ListSubscriptionsRequest(), consumer.Headers, SubscriptionsFixture.Deadline, Ct);
        Assert.Equal([free.Id], mine.Subscriptions.Select(s => s.PlanId).ToArray());
    }

    [Fact]
    public async Task Subscribe_BillingHangs_UnavailableWithinBillingTimeout()
    {
        // A billing that accepts connections and never answers: only the deadline ends the wait.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<Socket>();
        var accepting = AcceptForeverAsync(silent, held);
        try
        {
            var provider = await fixture.SignUpProviderAsync();
            var api = await fixture.CreateApiAsync(provider);
            var consumer = await fixture.SignUpConsumerAsync();
            await using var host = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl)
                .With("services:billing:grpc:0", $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/")
                .With("Subscriptions:BillingTimeout", "00:00:00.500")
                .Start();
            using var channel = host.CreateGrpcChannel();
            var client = new SubscriptionService.SubscriptionServiceClient(channel);
            var paid = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Paid", RequestsPerSecond = 1, PricePerCallMinor = 1 },
                provider.Headers, SubscriptionsFixture.Deadline, Ct)).Plan;

            var stopwatch = Stopwatch.StartNew();
            await Expect.StatusAsync(StatusCode.Unavailable, () => client.SubscribeAsync(
                new SubscribeRequest { PlanId = paid.Id }, consumer.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);

            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
        }
        finally
        {
            silent.Stop();
            await accepting;
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task AcceptForeverAsync(TcpListener listener, List<Socket> held)
    {
        try
        {
            while (true)
            {
                held.Add(await listener.AcceptSocketAsync());
            }
        }
        catch (SocketException)
        {
            // Stop() ends the accept loop.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
