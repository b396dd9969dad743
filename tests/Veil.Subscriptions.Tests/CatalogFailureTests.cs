using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Grpc.Core;
using Veil.Subscriptions.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

public sealed class CatalogFailureTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CreatePlan_CatalogDown_UnavailableWithClearMessage()
    {
        var provider = await fixture.SignUpProviderAsync();
        // Nothing listens on a port that was free a moment ago.
        await using var host = fixture.NewSubscriptionsHost(new Uri($"http://127.0.0.1:{FreePort.Next()}/")).Start();
        using var channel = host.CreateGrpcChannel();
        var client = new SubscriptionService.SubscriptionServiceClient(channel);

        var ex = await Expect.StatusAsync(StatusCode.Unavailable, () => client.CreatePlanAsync(
            new CreatePlanRequest { ApiId = "some-api", Name = "Free", RequestsPerSecond = 1 }, provider.Headers, SubscriptionsFixture.Deadline, Ct).ResponseAsync);
        Assert.Contains("catalog", ex.Status.Detail);
        await Expect.StatusAsync(StatusCode.Unavailable, () => client.ListPlansAsync(
            new ListPlansRequest { ApiId = "some-api" }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        using var rest = host.CreateRestClient();
        using var response = await rest.GetAsync("v1/plans?apiId=some-api", Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("catalog", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ListPlans_CatalogHangs_UnavailableWithinTheDeadline()
    {
        // A catalog that accepts connections and never answers: only the call deadline ends the wait.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<Socket>();
        var accepting = AcceptForeverAsync(silent, held);
        try
        {
            var port = ((IPEndPoint)silent.LocalEndpoint).Port;
            await using var host = fixture.NewSubscriptionsHost(new Uri($"http://127.0.0.1:{port}/"))
                .With("Subscriptions:CatalogTimeout", "00:00:00.500")
                .Start();
            using var channel = host.CreateGrpcChannel();
            var client = new SubscriptionService.SubscriptionServiceClient(channel);

            var stopwatch = Stopwatch.StartNew();
            await Expect.StatusAsync(StatusCode.Unavailable, () => client.ListPlansAsync(
                new ListPlansRequest { ApiId = "some-api" }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct).ResponseAsync);

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

    [Fact]
    public async Task EntitlementAndSubscriptions_CatalogDown_StillServed()
    {
        // Subscribe, GetPlan, CheckEntitlement and unfiltered listings never call catalog.
        var (_, api, plan) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        await using var host = fixture.NewSubscriptionsHost(new Uri($"http://127.0.0.1:{FreePort.Next()}/"), fixture.Subscriptions.DataDirectory).Start();
        using var channel = host.CreateGrpcChannel();
        var client = new SubscriptionService.SubscriptionServiceClient(channel);

        var subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, SubscriptionsFixture.Deadline, Ct)).Subscription;
        var entitlement = await client.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: Ct);
        var mine = await client.ListSubscriptionsAsync(new ListSubscriptionsRequest { ApiId = api.Id }, consumer.Headers, SubscriptionsFixture.Deadline, Ct);

        Assert.True(entitlement.Entitled);
        Assert.Equal([subscription.Id], mine.Subscriptions.Select(s => s.Id).ToArray());
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

public sealed class RestartTests(SubscriptionsFixture fixture) : IClassFixture<SubscriptionsFixture>
{
    [Fact]
    public async Task Restart_SameDataDirectory_KeepsPlansAndSubscriptions()
    {
        var ct = TestContext.Current.CancellationToken;
        var (provider, api, _) = await fixture.ProviderWithPlanAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        var data = Directory.CreateTempSubdirectory("veil-subscriptions-restart-").FullName;
        try
        {
            Plan plan;
            Subscription subscription;
            await using (var first = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl, data))
            {
                using var channel = first.CreateGrpcChannel();
                var client = new SubscriptionService.SubscriptionServiceClient(channel);
                plan = (await client.CreatePlanAsync(new CreatePlanRequest { ApiId = api.Id, Name = "Durable", RequestsPerSecond = 3, PricePerCallMinor = 12 },
                    provider.Headers, SubscriptionsFixture.Deadline, ct)).Plan;
                subscription = (await client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, SubscriptionsFixture.Deadline, ct)).Subscription;
            }

            await using var second = fixture.NewSubscriptionsHost(fixture.Catalog.GrpcUrl, data);
            using var secondChannel = second.CreateGrpcChannel();
            var restarted = new SubscriptionService.SubscriptionServiceClient(secondChannel);

            Assert.Equal(plan, (await restarted.GetPlanAsync(new GetPlanRequest { PlanId = plan.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: ct)).Plan);
            var entitlement = await restarted.CheckEntitlementAsync(new CheckEntitlementRequest { ConsumerId = consumer.Id, ApiId = api.Id }, deadline: SubscriptionsFixture.Deadline, cancellationToken: ct);
            Assert.Equal(subscription, entitlement.Subscription);
            await Expect.StatusAsync(StatusCode.AlreadyExists, () => restarted.SubscribeAsync(
                new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, SubscriptionsFixture.Deadline, ct).ResponseAsync);
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // A pooled SQLite handle may still be closing; the temp folder is cleaned anyway.
            }
        }
    }
}
