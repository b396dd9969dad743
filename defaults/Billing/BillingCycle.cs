namespace Veil.ServiceDefaults.Billing;

/// <summary>
/// Monthly billing cycles anchored on the subscription's start. Cycle n starts at
/// <c>anchor.AddMonths(n)</c>: the anchor's day of month and time of day, or the last day of a
/// shorter month, always computed from the original anchor so a short month does not shift
/// later cycles (start Jan 31 → Feb 28 (29 in leap years) → Mar 31 → Apr 30 → May 31 …).
/// All in UTC. A time before the anchor (edge clocks drift) belongs to the first cycle.
/// Shared by usage (quota cycles) and billing (invoice periods), so both always draw the same lines.
/// </summary>
public readonly record struct BillingCycle(long StartMs, long EndMs)
{
    // DateTime.MaxValue is in 9999; cycles are only computed for validated, recent times.
    private static readonly long MaxAnchorMs = new DateTimeOffset(9000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    public DateTimeOffset Start => DateTimeOffset.FromUnixTimeMilliseconds(StartMs);

    public DateTimeOffset End => DateTimeOffset.FromUnixTimeMilliseconds(EndMs);

    public bool Contains(long atMs) => atMs >= StartMs && atMs < EndMs;

    /// <summary>The cycle of a subscription started at <paramref name="anchorMs"/> that contains <paramref name="atMs"/>.</summary>
    public static BillingCycle Containing(long anchorMs, long atMs)
    {
        if (anchorMs > MaxAnchorMs)
        {
            throw new ArgumentOutOfRangeException(nameof(anchorMs), "The subscription start is out of range.");
        }
        var anchor = DateTimeOffset.FromUnixTimeMilliseconds(anchorMs).UtcDateTime;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(anchorMs, Math.Min(atMs, MaxAnchorMs))).UtcDateTime;
        var months = ((at.Year - anchor.Year) * 12) + at.Month - anchor.Month;
        var start = anchor.AddMonths(months);
        if (start > at)
        {
            // Same month as `at` but a later day or time: the cycle began the month before.
            months--;
            start = anchor.AddMonths(months);
        }
        return new BillingCycle(ToMs(start), ToMs(anchor.AddMonths(months + 1)));
    }

    private static long ToMs(DateTime utc) => new DateTimeOffset(utc, TimeSpan.Zero).ToUnixTimeMilliseconds();
}
