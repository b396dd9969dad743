using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Veil.Subscriptions.V1;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// The edge's rate limiter: the buckets it knows (by IP, key, consumer and subscription), the
/// decision for one request against one bucket, and the mode (leased from the ratelimit service,
/// or degraded to local buckets at <c>limit / N</c>). Decisions never wait on the network, except a
/// cold bucket's first lease, which waits at most <see cref="RateLimitingOptions.ColdWait"/>.
/// Renewals go to <see cref="LeaseRenewalService"/> through a queue.
/// </summary>
internal sealed class EdgeRateLimiter
{
    private readonly ConcurrentDictionary<IPAddress, LeasedBucket> _ips = new();
    private readonly ConcurrentDictionary<string, LeasedBucket> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LeasedBucket> _consumers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LeasedBucket> _plans = new(StringComparer.Ordinal);
    private readonly Channel<LeasedBucket> _renewals = Channel.CreateUnbounded<LeasedBucket>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<(int Rps, int Burst), LimitSpec> _planSpecs = new();
    private readonly ILogger<EdgeRateLimiter> _logger;
    private int _degraded;
    private long _degradedSince;
    // Bumped on each change of mode: buckets leased before a degraded spell count as cold again, and
    // each degraded spell starts its local buckets full.
    private long _epoch;

    public EdgeRateLimiter(IOptions<RateLimitingOptions> options, ILogger<EdgeRateLimiter> logger)
    {
        Options = options.Value;
        _logger = logger;
        Ip = Spec("ip", Options.Ip);
        Key = Spec("key", Options.Key);
        Consumer = Spec("consumer", Options.Consumer);
    }

    public RateLimitingOptions Options { get; }
    public LimitSpec Ip { get; }
    public LimitSpec Key { get; }
    public LimitSpec Consumer { get; }
    public bool IsDegraded => Volatile.Read(ref _degraded) == 1;
    public ChannelReader<LeasedBucket> Renewals => _renewals.Reader;
    public long Epoch => Interlocked.Read(ref _epoch);
    public int BucketCount => _ips.Count + _keys.Count + _consumers.Count + _plans.Count;

    /// <summary>The bucket of a client address: one per IPv4 address, one per IPv6 /64 (see <see cref="ClientPrefix"/>).</summary>
    public LeasedBucket IpBucket(IPAddress address)
    {
        address = ClientPrefix(address);
        return _ips.TryGetValue(address, out var bucket)
            ? bucket
            : _ips.GetOrAdd(address, static (a, spec) => new LeasedBucket(
                a.AddressFamily == AddressFamily.InterNetworkV6 ? $"ip:{a}/64" : "ip:" + a, spec), Ip);
    }

    /// <summary>
    /// What one client is, for the IP limit: an IPv4 address (IPv4-mapped IPv6 included), or the
    /// /64 prefix of an IPv6 address. A /64 is one subnet, which one host typically holds whole
    /// (SLAAC, privacy addresses, a customer's delegated prefix): per address, one client would
    /// get 2^64 buckets.
    /// </summary>
    public static IPAddress ClientPrefix(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    public LeasedBucket KeyBucket(string keyId) => Get(_keys, keyId, "key:", Key);

    public LeasedBucket ConsumerBucket(string accountId) => Get(_consumers, accountId, "consumer:", Consumer);

    /// <summary>The subscription's bucket with its plan's limits, or null when the plan sets none.</summary>
    public LeasedBucket? PlanBucket(string subscriptionId, Plan? plan)
    {
        if (plan is null || plan.RequestsPerSecond <= 0)
        {
            return null;
        }
        var burst = plan.Burst > 0 ? plan.Burst : plan.RequestsPerSecond;
        var spec = _planSpecs.GetOrAdd((plan.RequestsPerSecond, burst), static (k, o) => new LimitSpec("plan", k.Rps, 1, k.Burst, o), Options);
        var bucket = Get(_plans, subscriptionId, "plan:", spec);
        if (!ReferenceEquals(bucket.Spec, spec))
        {
            // The provider changed the plan: the new limits apply from the next lease on.
            bucket.Spec = spec;
        }
        return bucket;
    }

    /// <summary>Decides one request against one bucket without waiting, queueing a renewal when due.</summary>
    public Decision Take(LeasedBucket bucket, long now)
    {
        bucket.LastUsed = Environment.TickCount64;
        if (IsDegraded)
        {
            return bucket.TakeLocal(now, Epoch);
        }
        var decision = bucket.TakeLeased(now, Epoch, out var renew);
        if (renew)
        {
            _renewals.Writer.TryWrite(bucket);
        }
        return decision;
    }

    /// <summary>
    /// The cold path: waits (at most <see cref="RateLimitingOptions.ColdWait"/>) for the bucket's
    /// first lease, then decides again; still nothing → decides locally at <c>limit / N</c>.
    /// </summary>
    public async ValueTask<Decision> TakeAfterWaitAsync(LeasedBucket bucket, CancellationToken cancellationToken)
    {
        if (bucket.Pending is { } pending && Options.ColdWait > TimeSpan.Zero)
        {
            await Task.WhenAny(pending, Task.Delay(Options.ColdWait, cancellationToken)).ConfigureAwait(false);
        }
        var decision = Take(bucket, Stopwatch.GetTimestamp());
        return decision.Result == TakeResult.Wait ? bucket.TakeLocal(Stopwatch.GetTimestamp(), Epoch) : decision;
    }

    /// <summary>The store failed: degrade now (logged once per spell).</summary>
    public void EnterDegraded(string reason, Exception? exception)
    {
        if (Interlocked.CompareExchange(ref _degraded, 1, 0) == 0)
        {
            Interlocked.Increment(ref _epoch);
            _degradedSince = Stopwatch.GetTimestamp();
            RateLimitLog.Degraded(_logger, reason, Options.EdgeCount, exception);
        }
    }

    /// <summary>The store answered again: lease again (logged once).</summary>
    public void LeaveDegraded()
    {
        if (Interlocked.CompareExchange(ref _degraded, 0, 1) == 1)
        {
            Interlocked.Increment(ref _epoch);
            RateLimitLog.Recovered(_logger, Stopwatch.GetElapsedTime(_degradedSince));
        }
    }

    /// <summary>Drops buckets idle for longer than <see cref="RateLimitingOptions.IdleTimeout"/>.</summary>
    public int EvictIdle()
    {
        var now = Environment.TickCount64;
        var idleMs = (long)Options.IdleTimeout.TotalMilliseconds;
        var evicted = Evict(_ips, now, idleMs) + Evict(_keys, now, idleMs) + Evict(_consumers, now, idleMs) + Evict(_plans, now, idleMs);
        if (evicted > 0)
        {
            RateLimitLog.Evicted(_logger, evicted);
        }
        return evicted;
    }

    private static int Evict<TKey>(ConcurrentDictionary<TKey, LeasedBucket> table, long now, long idleMs) where TKey : notnull
    {
        var count = 0;
        foreach (var (key, bucket) in table)
        {
            if (bucket.IsIdle(now, idleMs) && table.TryRemove(new KeyValuePair<TKey, LeasedBucket>(key, bucket)))
            {
                count++;
            }
        }
        return count;
    }

    private LeasedBucket Get(ConcurrentDictionary<string, LeasedBucket> table, string id, string prefix, LimitSpec spec) =>
        table.TryGetValue(id, out var bucket)
            ? bucket
            : table.GetOrAdd(id, static (i, s) => new LeasedBucket(s.prefix + i, s.spec), (prefix, spec));

    private LimitSpec Spec(string name, LimitOptions limit) =>
        new(name, limit.Quota, Math.Max(1, (long)limit.Window.TotalSeconds), limit.Burst, Options);
}
