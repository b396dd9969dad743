using System.Globalization;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// One limit as the edge applies it: rate and burst, the lease size L, the local fallback at
/// <c>limit / N</c>, and its ready-made <c>RateLimit-Policy</c> header value. Immutable; a bucket
/// gets a new one when its plan changes.
/// </summary>
internal sealed class LimitSpec
{
    public LimitSpec(string name, long quota, long windowSeconds, long burst, RateLimitingOptions options)
    {
        Name = name;
        Quota = quota;
        WindowSeconds = windowSeconds;
        Burst = burst;
        Rate = (double)quota / windowSeconds;
        LeaseSize = Math.Clamp((long)Math.Ceiling(Rate * options.LeaseWindow.TotalSeconds), Math.Min(options.MinLease, burst), burst);
        LowWater = LeaseSize / 2;
        LocalRate = Rate / options.EdgeCount;
        LocalBurst = Math.Max(1, burst / options.EdgeCount);
        Policy = string.Create(CultureInfo.InvariantCulture, $"\"{name}\";q={quota};w={windowSeconds}");
    }

    /// <summary><c>ip</c>, <c>key</c>, <c>consumer</c> or <c>plan</c>.</summary>
    public string Name { get; }
    public long Quota { get; }
    public long WindowSeconds { get; }
    public long Burst { get; }
    public double Rate { get; }
    /// <summary>L: the most unspent leased tokens this edge holds for one bucket (the accuracy bound's L).</summary>
    public long LeaseSize { get; }
    /// <summary>A renewal is sent when the held tokens fall to this level (ahead of need).</summary>
    public long LowWater { get; }
    public double LocalRate { get; }
    public long LocalBurst { get; }
    public string Policy { get; }

    public bool SameLimits(long quota, long windowSeconds, long burst) => Quota == quota && WindowSeconds == windowSeconds && Burst == burst;
}
