using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

public sealed partial class WatchGatewayConfigTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WatchGatewayConfig_Connect_SendsCurrentConfigAtOnce()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner);
        using var call = Watch("connect", out var ct);

        Assert.True(await call.ResponseStream.MoveNext(ct));
        var config = call.ResponseStream.Current;

        Assert.True(config.Revision >= 1);
        var route = Assert.Single(config.Routes, r => r.ApiId == api.Id);
        Assert.Equal(new GatewayRoute
        {
            ApiId = api.Id,
            Slug = api.Slug,
            UpstreamUrl = api.UpstreamUrl,
            TimeoutMs = api.TimeoutMs,
            Version = 1,
            ProviderId = owner.Id,
        }, route);
        Assert.Equal(config.Routes.Select(r => r.Slug).Order(StringComparer.Ordinal), config.Routes.Select(r => r.Slug));
    }

    [Fact]
    public async Task WatchGatewayConfig_CreateAndUpdate_SeenWithinOneSecond()
    {
        var owner = await fixture.SignUpProviderAsync();
        using var call = Watch("create-update", out var ct);
        Assert.True(await call.ResponseStream.MoveNext(ct));
        var initial = call.ResponseStream.Current;

        // Timed from the acknowledgement: the edge must hear of a change within 1 s of it being
        // stored, whatever the machine's load did to the RPC itself.
        var api = await fixture.CreateApiAsync(owner);
        var stopwatch = Stopwatch.StartNew();
        var created = await NextWhereAsync(call, c => c.Routes.Any(r => r.ApiId == api.Id), ct);
        var createSeen = stopwatch.Elapsed;

        await fixture.Client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, UpstreamUrl = "https://moved.example.com", TimeoutMs = 750 },
            owner.Headers, CatalogFixture.Deadline, Ct);
        stopwatch.Restart();
        var updated = await NextWhereAsync(call, c => c.Routes.Any(r => r.ApiId == api.Id && r.Version == 2), ct);
        var updateSeen = stopwatch.Elapsed;

        Assert.True(createSeen < Promptly, $"create seen after {createSeen}");
        Assert.True(updateSeen < Promptly, $"update seen after {updateSeen}");
        Assert.True(created.Revision > initial.Revision);
        Assert.True(updated.Revision > created.Revision);
        var route = updated.Routes.Single(r => r.ApiId == api.Id);
        Assert.Equal(("https://moved.example.com", 750), (route.UpstreamUrl, route.TimeoutMs));
    }

    [Fact]
    public async Task WatchGatewayConfig_UpdateWithoutChange_SendsNothingNew()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = await fixture.CreateApiAsync(owner, name: "Unchanged");
        using var call = Watch("no-op", out var ct);
        Assert.True(await call.ResponseStream.MoveNext(ct));
        var before = call.ResponseStream.Current.Revision;

        await fixture.Client.UpdateApiAsync(new UpdateApiRequest { ApiId = api.Id, Name = "Unchanged" }, owner.Headers, CatalogFixture.Deadline, Ct);
        // A real change afterwards must be the very next snapshot: the no-op published nothing.
        var marker = await fixture.CreateApiAsync(owner);

        Assert.True(await call.ResponseStream.MoveNext(ct));
        var next = call.ResponseStream.Current;
        Assert.Equal(before + 1, next.Revision);
        Assert.Contains(next.Routes, r => r.ApiId == marker.Id);
    }

    [Fact]
    public async Task WatchGatewayConfig_ManyWatchersAndDisconnects_EveryoneSeesChangesAndStreamsEnd()
    {
        var owner = await fixture.SignUpProviderAsync();
        // Streams of earlier tests in this class end asynchronously after their calls are disposed.
        // Other tests share this catalog and may hold or release watchers meanwhile, so the counts
        // are checked relative to the peak (others only add to it while ours are open).
        long peak = 0;
        var watchers = new List<(AsyncServerStreamingCall<GatewayConfig> Call, CancellationTokenSource Cts)>();
        try
        {
            for (var i = 0; i < 25; i++)
            {
                var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                cts.CancelAfter(TimeSpan.FromSeconds(30));
                var call = fixture.Client.WatchAs($"edge-{i}", cts.Token);
                watchers.Add((call, cts));
            }
            foreach (var (call, cts) in watchers)
            {
                Assert.True(await call.ResponseStream.MoveNext(cts.Token));
            }
            await Eventually.HoldsAsync(async () => (peak = await WatchersAsync()) >= 25, TimeSpan.FromSeconds(30), "25 watchers are counted");

            // Half the edges hang up; the rest still hear the next change.
            foreach (var (_, cts) in watchers.Take(12))
            {
                await cts.CancelAsync();
            }
            var api = await fixture.CreateApiAsync(owner);
            await Task.WhenAll(watchers.Skip(12).Select(w => NextWhereAsync(w.Call, c => c.Routes.Any(r => r.ApiId == api.Id), w.Cts.Token)));

            await Eventually.HoldsAsync(async () => await WatchersAsync() <= peak - 12, TimeSpan.FromSeconds(30), "hung-up watchers are released");
        }
        finally
        {
            foreach (var (call, cts) in watchers)
            {
                await cts.CancelAsync();
                call.Dispose();
                cts.Dispose();
            }
        }
        await Eventually.HoldsAsync(async () => await WatchersAsync() <= peak - 25, TimeSpan.FromSeconds(30), "every watcher is released");

        // The catalog still serves new watchers after all that.
        using var fresh = Watch("after", out var ct);
        Assert.True(await fresh.ResponseStream.MoveNext(ct));
    }

    private AsyncServerStreamingCall<GatewayConfig> Watch(string edgeId, out CancellationToken cancellationToken)
    {
        // Streams have no deadline (they are meant to stay open); the test's token bounds them.
        var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        cancellationToken = cts.Token;
        return fixture.Client.WatchAs(edgeId, cts.Token);
    }

    private static async Task<GatewayConfig> NextWhereAsync(AsyncServerStreamingCall<GatewayConfig> call, Func<GatewayConfig, bool> condition, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(5));
        while (await call.ResponseStream.MoveNext(bounded.Token))
        {
            if (condition(call.ResponseStream.Current))
            {
                return call.ResponseStream.Current;
            }
        }
        throw new InvalidOperationException("The stream ended before the expected config arrived.");
    }

    /// <summary>The catalog's own count of connected watchers, from its Prometheus endpoint.</summary>
    private async Task<long> WatchersAsync()
    {
        using var rest = fixture.Rest();
        var text = await rest.GetStringAsync("metrics", Ct);
        var match = WatchersMetric().Match(text);
        return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^veil_catalog_gateway_watchers(?:\{[^}]*\})?\s+(-?\d+)", RegexOptions.Multiline)]
    private static partial Regex WatchersMetric();
}
