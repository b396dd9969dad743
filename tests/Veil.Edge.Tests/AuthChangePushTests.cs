using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Veil.Edge.Dependencies;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>Timing tests run alone, so other test classes' load on the shared cores does not skew them.</summary>
[CollectionDefinition(nameof(AuthChangePushTests), DisableParallelization = true)]
public sealed class AuthChangePushCollection : ICollectionFixture<EdgeFixture>;

/// <summary>
/// Revocations and cancellations reach every edge over identity's and subscriptions' change streams,
/// measured through two real edges: <see cref="EdgeFixture.Edge"/> (1 s caches) and
/// <see cref="EdgeFixture.LongCacheEdge"/> (10 s caches, so only the push can refuse in time). The
/// clock starts when the revoke (or cancel) REST call has answered and stops at each edge's first
/// refusal, found by calling each edge in a tight loop.
/// </summary>
[Collection(nameof(AuthChangePushTests))]
public sealed class AuthChangePushTests(EdgeFixture fleet)
{
    private const int Repetitions = 20;
    private static readonly TimeSpan Goal = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task RevokeApiKey_TwoWarmEdges_BothRefuseWithin250msAtP99()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: [fleet.Edge, fleet.LongCacheEdge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        await WaitStreamsConnectedAsync(fleet.Edge, fleet.LongCacheEdge);
        using var first = fleet.Edge.CreateRestClient();
        using var second = fleet.LongCacheEdge.CreateRestClient();
        var latencies = new List<TimeSpan>();

        for (var i = 0; i < Repetitions; i++)
        {
            var key = await fleet.NewKeyAsync(consumer);
            Assert.Equal(HttpStatusCode.OK, await CallAsync(first, api.Slug, key.Key, ct)); // warm: cached as valid
            Assert.Equal(HttpStatusCode.OK, await CallAsync(second, api.Slug, key.Key, ct));

            await fleet.RevokeKeyAsync(key);
            var answered = Stopwatch.StartNew();
            var refused = await Task.WhenAll(
                UntilAsync(first, api.Slug, key.Key, HttpStatusCode.Unauthorized, answered, ct),
                UntilAsync(second, api.Slug, key.Key, HttpStatusCode.Unauthorized, answered, ct));
            latencies.AddRange(refused);
        }

        AssertP99WithinGoal(latencies, "revoke → first 401");
    }

    [Fact]
    public async Task CancelSubscription_TwoWarmEdges_BothRefuseWithin250msAtP99()
    {
        var ct = TestContext.Current.CancellationToken;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: [fleet.Edge, fleet.LongCacheEdge]);
        var consumer = await fleet.ConsumerAsync(planId: null);
        await WaitStreamsConnectedAsync(fleet.Edge, fleet.LongCacheEdge);
        using var first = fleet.Edge.CreateRestClient();
        using var second = fleet.LongCacheEdge.CreateRestClient();
        var latencies = new List<TimeSpan>();

        for (var i = 0; i < Repetitions; i++)
        {
            // Subscribing is pushed too: the "not entitled" each edge cached after the last cancel goes at once.
            var subscriptionId = await fleet.SubscribeAsync(consumer.Account, api.PlanId);
            var subscribed = Stopwatch.StartNew();
            await UntilAsync(first, api.Slug, consumer.Key, HttpStatusCode.OK, subscribed, ct);
            await UntilAsync(second, api.Slug, consumer.Key, HttpStatusCode.OK, subscribed, ct);

            await fleet.CancelAsync(consumer.Account, subscriptionId);
            var answered = Stopwatch.StartNew();
            var refused = await Task.WhenAll(
                UntilAsync(first, api.Slug, consumer.Key, HttpStatusCode.Forbidden, answered, ct),
                UntilAsync(second, api.Slug, consumer.Key, HttpStatusCode.Forbidden, answered, ct));
            latencies.AddRange(refused);
        }

        AssertP99WithinGoal(latencies, "cancel → first 403");
    }

    [Fact]
    public async Task RevokeApiKey_ChangeStreamDown_CacheTtlStillRefusesWithinOneSecond()
    {
        var ct = TestContext.Current.CancellationToken;
        var edge = fleet.StreamlessEdge;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: [edge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = edge.CreateRestClient();
        Assert.Equal(HttpStatusCode.OK, await CallAsync(http, api.Slug, consumer.Key, ct)); // warm: cached as valid

        await fleet.RevokeKeyAsync(consumer);
        var refused = await UntilAsync(http, api.Slug, consumer.Key, HttpStatusCode.Unauthorized, Stopwatch.StartNew(), ct);

        // 1 s of cache plus one call to identity.
        Assert.True(refused < TimeSpan.FromMilliseconds(1500), $"revocation took {refused.TotalMilliseconds:F0} ms");
        using var management = edge.CreateManagementClient();
        var health = await management.GetStringAsync("health", ct);
        Assert.Contains("Degraded", health);
        var status = JsonNode.Parse(await management.GetStringAsync("_veil/edge", ct))!;
        Assert.False(status["keyChangesConnected"]!.GetValue<bool>());
    }

    [Fact]
    public async Task CancelSubscription_ChangeStreamDown_CacheTtlStillRefusesWithinOneSecond()
    {
        var ct = TestContext.Current.CancellationToken;
        var edge = fleet.StreamlessEdge;
        var api = await fleet.PublishApiAsync(fleet.Upstream.Url, edges: [edge]);
        var consumer = await fleet.ConsumerAsync(api.PlanId);
        using var http = edge.CreateRestClient();
        Assert.Equal(HttpStatusCode.OK, await CallAsync(http, api.Slug, consumer.Key, ct)); // warm: cached as entitled

        await fleet.CancelAsync(consumer.Account, consumer.SubscriptionId!);
        var refused = await UntilAsync(http, api.Slug, consumer.Key, HttpStatusCode.Forbidden, Stopwatch.StartNew(), ct);

        Assert.True(refused < TimeSpan.FromMilliseconds(1500), $"cancellation took {refused.TotalMilliseconds:F0} ms");
    }

    private static void AssertP99WithinGoal(List<TimeSpan> latencies, string what)
    {
        latencies.Sort();
        var p99 = latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1];
        var summary = $"{what} over {latencies.Count} (edge, repetition) pairs: p50 {latencies[latencies.Count / 2].TotalMilliseconds:F1} ms, " +
            $"p99 {p99.TotalMilliseconds:F1} ms, max {latencies[^1].TotalMilliseconds:F1} ms";
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Assert.True(p99 <= Goal, summary);
    }

    /// <summary>Waits until both change streams of every edge are connected (their resync applied).</summary>
    private static Task WaitStreamsConnectedAsync(params ServiceHost<EdgeOptions>[] edges) =>
        Eventually.HoldsAsync(() => Task.FromResult(edges.All(e =>
            e.Services.GetRequiredService<AuthChangeStreams>().All.All(s => s.Connected))), Bound, "every edge's change streams are connected");

    /// <summary>Calls the edge back to back until it answers <paramref name="status"/>; the time on <paramref name="since"/> then.</summary>
    private static async Task<TimeSpan> UntilAsync(HttpClient http, string slug, string key, HttpStatusCode status, Stopwatch since, CancellationToken ct)
    {
        while (since.Elapsed < Bound)
        {
            if (await CallAsync(http, slug, key, ct) == status)
            {
                return since.Elapsed;
            }
        }
        throw new TimeoutException($"The edge did not answer {(int)status} within {Bound}.");
    }

    private static async Task<HttpStatusCode> CallAsync(HttpClient http, string slug, string key, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{slug}/echo");
        request.Headers.TryAddWithoutValidation("X-Api-Key", key);
        using var response = await http.SendAsync(request, ct);
        return response.StatusCode;
    }
}
