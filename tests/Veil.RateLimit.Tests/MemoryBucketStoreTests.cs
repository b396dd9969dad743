using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Veil.RateLimit.Data;

namespace Veil.RateLimit.Tests;

/// <summary>The in-memory store on its own: thread safety and its bounded table.</summary>
public sealed class MemoryBucketStoreTests
{
    private static (MemoryBucketStore Store, FakeTimeProvider Clock) Create(int maxBuckets = 1000)
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var options = Options.Create(new RateLimitOptions { Memory = { MaxBuckets = maxBuckets, SweepInterval = TimeSpan.FromSeconds(10) } });
        var metrics = new RateLimitMetrics(new TestMeterFactory());
        return (new MemoryBucketStore(clock, options, metrics, NullLogger<MemoryBucketStore>.Instance), clock);
    }

    [Fact]
    public async Task AcquireAsync_ManyConcurrentTasks_GrantExactlyTheBurst()
    {
        var (store, _) = Create();
        using var _ = store;
        var ct = TestContext.Current.CancellationToken;

        // Frozen clock: no refill, so exactly the burst may go out, however the calls interleave.
        var tasks = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            long granted = 0;
            for (var i = 0; i < 500; i++)
            {
                var batch = await store.AcquireAsync([new BucketRequest("key:hot", 1, 1000, 1 + (i % 3))], ct);
                granted += batch.Decisions[0].Granted;
            }
            return granted;
        }, ct)).ToArray();

        var total = (await Task.WhenAll(tasks)).Sum();
        Assert.Equal(1000, total);
    }

    [Fact]
    public async Task Sweep_DropsOnlyRefilledBuckets()
    {
        var (store, clock) = Create();
        using var _ = store;
        var ct = TestContext.Current.CancellationToken;
        await store.AcquireAsync([new BucketRequest("fast", 10, 10, 10)], ct);  // full again after 1 s
        await store.AcquireAsync([new BucketRequest("slow", 0.1, 10, 10)], ct); // full again after 100 s
        await store.AcquireAsync([new BucketRequest("idle", 1, 10, 0)], ct);    // never drained

        clock.Advance(TimeSpan.FromSeconds(10)); // the sweep timer fires

        Assert.Equal(1, store.Count);
        // The drained bucket kept its state: 10 s at 0.1/s refilled exactly one token.
        var slow = await store.AcquireAsync([new BucketRequest("slow", 0.1, 10, 5)], ct);
        Assert.Equal(1, slow.Decisions[0].Granted);
    }

    [Fact]
    public async Task AcquireAsync_OverMaxBuckets_EvictsLeastRecentlyUsed()
    {
        var (store, clock) = Create(maxBuckets: 100);
        using var _ = store;
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 100; i++)
        {
            await store.AcquireAsync([new BucketRequest($"ip:{i}", 0.001, 5, 5)], ct);
            clock.Advance(TimeSpan.FromMilliseconds(1));
        }
        Assert.Equal(100, store.Count);

        await store.AcquireAsync([new BucketRequest("ip:new", 0.001, 5, 5)], ct);

        Assert.InRange(store.Count, 1, 100);
        // The most recent bucket survived with its state (still empty); the oldest restarts full.
        Assert.Equal(0, (await store.AcquireAsync([new BucketRequest("ip:99", 0.001, 5, 1)], ct)).Decisions[0].Granted);
        Assert.Equal(1, (await store.AcquireAsync([new BucketRequest("ip:0", 0.001, 5, 1)], ct)).Decisions[0].Granted);
    }
}

/// <summary>An IMeterFactory for stores built outside a host.</summary>
internal sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
{
    private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

    public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
    {
        var meter = new System.Diagnostics.Metrics.Meter(options);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
