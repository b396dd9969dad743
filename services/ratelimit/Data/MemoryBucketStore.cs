using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace Veil.RateLimit.Data;

/// <summary>
/// Buckets in process memory (the embedded default, one replica): the same arithmetic as Redis,
/// with <see cref="TimeProvider"/>'s monotonic clock. Each bucket has its own lock; a sweep drops
/// buckets that have refilled (an absent bucket starts full, so that changes nothing) and, past
/// <see cref="MemoryStoreOptions.MaxBuckets"/>, the least recently used ones.
/// </summary>
public sealed class MemoryBucketStore : IBucketStore, IDisposable
{
    private readonly ConcurrentDictionary<string, Entry> _buckets = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger<MemoryBucketStore> _logger;
    private readonly int _maxBuckets;
    private readonly Lock _sweepGate = new();
    private readonly ITimer _sweepTimer;
    private readonly Counter<long> _evictions;

    public MemoryBucketStore(TimeProvider time, IOptions<RateLimitOptions> options, RateLimitMetrics metrics, ILogger<MemoryBucketStore> logger)
    {
        _time = time;
        _logger = logger;
        _maxBuckets = options.Value.Memory.MaxBuckets;
        var interval = options.Value.Memory.SweepInterval;
        _sweepTimer = time.CreateTimer(static state => ((MemoryBucketStore)state!).Sweep(), this, interval, interval);
        metrics.Meter.CreateObservableGauge("veil.ratelimit.memory.buckets", () => _buckets.Count, "{bucket}", "Buckets held in memory.");
        _evictions = metrics.Meter.CreateCounter<long>("veil.ratelimit.memory.evictions", "{bucket}",
            "Buckets dropped before they had refilled because the table was full (each restarts full).");
    }

    public string Name => "memory";

    /// <summary>Buckets currently held.</summary>
    public int Count => _buckets.Count;

    public Task<BucketBatch> AcquireAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken) =>
        Task.FromResult(Decide(requests, giveBack: false));

    public Task<BucketBatch> ReturnAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken) =>
        Task.FromResult(Decide(requests, giveBack: true));

    private BucketBatch Decide(IReadOnlyList<BucketRequest> requests, bool giveBack)
    {
        var decisions = new BucketDecision[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            decisions[i] = Decide(requests[i], giveBack);
        }
        if (_buckets.Count > _maxBuckets)
        {
            Sweep();
        }
        return new BucketBatch(decisions, _time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    private BucketDecision Decide(BucketRequest request, bool giveBack)
    {
        while (true)
        {
            var now = _time.GetTimestamp();
            var entry = _buckets.GetOrAdd(request.Bucket, static (_, state) => new Entry(state.Burst, state.Now), (request.Burst, Now: now));
            lock (entry.Gate)
            {
                if (entry.Removed)
                {
                    // The sweep dropped it between the lookup and the lock: look it up again.
                    continue;
                }
                var tokens = TokenBucket.Refill(entry.Tokens, ElapsedSeconds(entry.Refilled, now), request.RatePerSecond, request.Burst);
                if (now > entry.Refilled)
                {
                    entry.Refilled = now;
                }
                var decision = giveBack
                    ? TokenBucket.Give(ref tokens, request.Burst, request.Tokens)
                    : TokenBucket.Take(ref tokens, request.RatePerSecond, request.Tokens);
                entry.Tokens = tokens;
                entry.FullAt = now + (long)Math.Ceiling(TokenBucket.SecondsUntilFull(tokens, request.RatePerSecond, request.Burst) * _time.TimestampFrequency);
                entry.LastUsed = now;
                return decision;
            }
        }
    }

    /// <summary>Drops refilled buckets, then, if still over the limit, the least recently used.</summary>
    internal void Sweep()
    {
        if (!_sweepGate.TryEnter())
        {
            return; // another thread is sweeping
        }
        try
        {
            var now = _time.GetTimestamp();
            foreach (var (key, entry) in _buckets)
            {
                TryRemove(key, entry, e => now >= e.FullAt);
            }
            if (_buckets.Count <= _maxBuckets)
            {
                return;
            }
            // Still full of live buckets: drop the least recently used down to 90% of the limit.
            var excess = _buckets.Count - _maxBuckets * 9 / 10;
            var evicted = 0;
            foreach (var (key, entry) in _buckets.OrderBy(p => Volatile.Read(ref p.Value.LastUsed)).Take(excess).ToList())
            {
                if (TryRemove(key, entry, static _ => true))
                {
                    evicted++;
                }
            }
            _evictions.Add(evicted);
            RateLimitLog.MemoryEvicted(_logger, _maxBuckets, evicted);
        }
        finally
        {
            _sweepGate.Exit();
        }
    }

    private bool TryRemove(string key, Entry entry, Func<Entry, bool> predicate)
    {
        lock (entry.Gate)
        {
            if (entry.Removed || !predicate(entry))
            {
                return false;
            }
            entry.Removed = true;
        }
        return _buckets.TryRemove(new KeyValuePair<string, Entry>(key, entry));
    }

    private double ElapsedSeconds(long from, long to) => (double)(to - from) / _time.TimestampFrequency;

    public void Dispose() => _sweepTimer.Dispose();

    private sealed class Entry(long burst, long now)
    {
        public readonly Lock Gate = new();
        public double Tokens = burst;
        public long Refilled = now;
        public long FullAt = now;
        public long LastUsed = now;
        public bool Removed;
    }
}
