using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Veil.RateLimit;

/// <summary>Rate-limit service settings, bound from the <c>RateLimit</c> section.</summary>
public sealed class RateLimitOptions
{
    public const string SectionName = "RateLimit";

    /// <summary>
    /// How long the edge may spend leased tokens. Part of the accuracy bound: over any window,
    /// admissions stay within <c>burst + rate × (window + LeaseTtl)</c> (docs/rate-limiting.md).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The in-memory store, used when <c>RateLimit:Redis:Configuration</c> is empty.</summary>
    [ValidateObjectMembers]
    public MemoryStoreOptions Memory { get; set; } = new();
}

/// <summary>Bounds of the in-memory bucket table (<c>RateLimit:Memory</c>).</summary>
public sealed class MemoryStoreOptions
{
    /// <summary>
    /// Most buckets kept. Idle buckets that have refilled are dropped first (that changes
    /// nothing: an absent bucket starts full); beyond that the least recently used go, which
    /// resets them to full, so size this above the working set.
    /// </summary>
    [Range(16, 100_000_000)]
    public int MaxBuckets { get; set; } = 1_000_000;

    /// <summary>How often refilled idle buckets are dropped.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The Redis client settings (<c>RateLimit:Redis</c>), in the Aspire component pattern: a
/// StackExchange.Redis configuration string plus the resilience knobs around each call.
/// </summary>
public sealed class VeilRedisSettings
{
    /// <summary>
    /// StackExchange.Redis configuration string: <c>host:6379,password=…</c> for one server, or
    /// <c>sentinel1:26379,sentinel2:26379,serviceName=mymaster</c> for Sentinel. Empty: no Redis.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>Prefix of every bucket key in Redis.</summary>
    [Required, MinLength(1)]
    public string KeyPrefix { get; set; } = "veil:rl:";

    /// <summary>
    /// Budget of one store decision (a whole batch). Past it the call answers UNAVAILABLE and
    /// the edge falls back to its local buckets.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:10")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Share of failed calls within <see cref="BreakerSamplingDuration"/> that opens the breaker.</summary>
    [Range(0.01, 1.0)]
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed within <see cref="BreakerSamplingDuration"/> before the breaker may open.</summary>
    [Range(2, 10_000)]
    public int BreakerMinimumThroughput { get; set; } = 10;

    /// <summary>Window over which failures are counted.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an open breaker answers UNAVAILABLE without trying Redis.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Budget of the readiness probe's PING.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(1);
}
