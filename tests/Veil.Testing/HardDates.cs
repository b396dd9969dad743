using Veil.ServiceDefaults.Billing;
using System.Reflection;
using Xunit;
using Xunit.Sdk;
using Xunit.v3;

namespace Veil.Testing;

/// <summary>
/// The calendar's hard cases, as "now" for date-sensitive tests (cycles, quotas, windows,
/// invoices): month ends of every length, the leap day, the last millisecond and the first second
/// of a month and of a year, and a day in a month that follows a 30-day month (a subscription that
/// started 30 days earlier is then exactly one calendar month old). Theories take them as
/// <c>[Theory, HardDateData]</c>, one string each (parse it with <see cref="Parse"/>).
/// </summary>
public static class HardDates
{
    /// <summary>A date with nothing special about it, for tests that need one fixed "now".</summary>
    public static readonly DateTimeOffset Ordinary = Parse("2026-06-17T10:00:00Z");

    public static IReadOnlyList<string> All { get; } =
    [
        "2026-01-31T12:00:00Z",       // the 31st, before a 28-day month
        "2026-02-28T12:00:00Z",       // the last day of February in a common year
        "2028-02-29T12:00:00Z",       // the leap day
        "2026-12-07T19:00:00Z",       // a week after a 30-day month (the day CI first broke)
        "2026-07-01T00:00:00Z",       // the first second of a month, the day after a 30-day month
        "2026-04-30T23:59:59.999Z",   // the last millisecond of a 30-day month
        "2026-12-31T23:59:59.999Z",   // the last millisecond of a year
        "2027-01-01T00:00:00Z",       // the first second of a year
    ];

    public static DateTimeOffset Parse(string at) => DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Runs a theory once for each of <see cref="HardDates.All"/>, as its one string argument.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class HardDateDataAttribute : DataAttribute
{
    public override ValueTask<IReadOnlyCollection<ITheoryDataRow>> GetData(MethodInfo testMethod, DisposalTracker disposalTracker) =>
        ValueTask.FromResult<IReadOnlyCollection<ITheoryDataRow>>(HardDates.All.Select(at => new TheoryDataRow<string>(at)).ToArray());

    public override bool SupportsDiscoveryEnumeration() => true;
}

/// <summary>Billing cycles as usage and billing compute them (<see cref="BillingCycle"/>), for choosing anchors and checking periods.</summary>
public static class Cycles
{
    /// <summary>The cycle of a subscription anchored at <paramref name="anchor"/> that contains <paramref name="at"/>.</summary>
    public static BillingCycle Containing(DateTimeOffset anchor, DateTimeOffset at) =>
        BillingCycle.Containing(anchor.ToUnixTimeMilliseconds(), at.ToUnixTimeMilliseconds());

    /// <summary>
    /// A subscription start a few months before <paramref name="now"/> whose current cycle began
    /// at least <paramref name="before"/> earlier and ends at least <paramref name="after"/> later,
    /// so that "now" and the recent past are in one cycle whatever the date. Defaults: 10 days each.
    /// </summary>
    public static DateTimeOffset AnchorMidCycle(DateTimeOffset now, TimeSpan? before = null, TimeSpan? after = null)
    {
        var margin = (Before: before ?? TimeSpan.FromDays(10), After: after ?? TimeSpan.FromDays(10));
        // Step back from now - margin, a day at a time, until the cycle around now has both margins.
        for (var anchor = (now - margin.Before).AddMonths(-3); ; anchor = anchor.AddDays(-1))
        {
            var cycle = Containing(anchor, now);
            if (now - cycle.Start >= margin.Before && cycle.End - now >= margin.After)
            {
                return anchor;
            }
        }
    }

    /// <summary>
    /// A subscription that starts at <paramref name="anchor"/>: its first renewal (the boundary)
    /// and a clock start <paramref name="lead"/> before it.
    /// </summary>
    public static (DateTimeOffset Anchor, DateTimeOffset Boundary, DateTimeOffset ClockStart) FirstRenewal(DateTimeOffset anchor, TimeSpan lead)
    {
        var boundary = Containing(anchor, anchor).End;
        return (anchor, boundary, boundary - lead);
    }

    /// <summary>
    /// An anchor whose cycle containing <paramref name="now"/> ends <paramref name="lead"/> after
    /// it or a little earlier (month ends clamp), that end (the boundary), and a clock start
    /// <paramref name="lead"/> before the boundary.
    /// </summary>
    public static (DateTimeOffset Anchor, DateTimeOffset Boundary, DateTimeOffset ClockStart) EndingSoon(DateTimeOffset now, TimeSpan lead)
    {
        now = DateTimeOffset.FromUnixTimeMilliseconds(now.ToUnixTimeMilliseconds());
        var anchor = (now + lead).AddMonths(-1);
        var boundary = Containing(anchor, anchor).End;
        return (anchor, boundary, boundary - lead);
    }
}
