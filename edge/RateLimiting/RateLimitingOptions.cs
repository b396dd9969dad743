using System.ComponentModel.DataAnnotations;

namespace Veil.Edge.RateLimiting;

/// <summary>Settings of the edge's rate limiting, bound from <c>Edge:RateLimiting</c> and validated at start.</summary>
public sealed class RateLimitingOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Edge:RateLimiting";

    /// <summary>Off only for tests of other steps; production keeps it on.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Per client IP, before authentication (also throttles bad-key floods): 1000 per minute, burst 50.</summary>
    [Required]
    public LimitOptions Ip { get; set; } = new() { Quota = 1000, Window = TimeSpan.FromMinutes(1), Burst = 50 };

    /// <summary>Per API key: 100 per second, burst 10.</summary>
    [Required]
    public LimitOptions Key { get; set; } = new() { Quota = 100, Window = TimeSpan.FromSeconds(1), Burst = 10 };

    /// <summary>Per consumer across all of their keys: 200 per second, burst 20.</summary>
    [Required]
    public LimitOptions Consumer { get; set; } = new() { Quota = 200, Window = TimeSpan.FromSeconds(1), Burst = 20 };

    /// <summary>Number of edges sharing the limits; in degraded mode each edge enforces <c>limit / EdgeCount</c>.</summary>
    [Range(1, 10_000)]
    public int EdgeCount { get; set; } = 1;

    /// <summary>Deadline of one AcquireLease call (one attempt, never retried: a retry takes tokens twice).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:05")]
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest a request waits for the first lease of a cold bucket before deciding locally.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan ColdWait { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A lease covers about this much of the limit's rate (L = clamp(rate × LeaseWindow, MinLease, burst)).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:10")]
    public TimeSpan LeaseWindow { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Smallest lease (L), unless the burst is smaller.</summary>
    [Range(1, 1_000_000)]
    public int MinLease { get; set; } = 10;

    /// <summary>How often the store is probed while degraded.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Buckets not used for this long are dropped from the edge's memory.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(1);
}
