using System.ComponentModel.DataAnnotations;

namespace Veil.Edge.RateLimiting;

/// <summary>One limit: <see cref="Quota"/> requests per <see cref="Window"/>, with a bucket of <see cref="Burst"/>.</summary>
public sealed class LimitOptions
{
    [Range(1, 1_000_000_000)]
    public long Quota { get; set; }

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Window { get; set; }

    [Range(1, 1_000_000_000)]
    public long Burst { get; set; }
}
