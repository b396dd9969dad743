using System.Globalization;

namespace Veil.Billing;

/// <summary>
/// The plan terms an invoice is priced with. Prices are integer minor units of <see cref="Currency"/>.
/// <see cref="QuotaUsedBefore"/>: billable calls the consumer made to the API in the same cycle under
/// an earlier subscription (cancelled, then followed by this one), which used the quota first.
/// </summary>
public sealed record Terms(long BasePriceMinor, long PricePerCallMinor, long OveragePricePerCallMinor, long MonthlyQuota,
    bool OverageAllowed, string Currency, long QuotaUsedBefore = 0)
{
    /// <summary>The price of a call beyond the quota: the overage price, or the per-call price when that is 0.</summary>
    public long EffectiveOveragePriceMinor => OveragePricePerCallMinor > 0 ? OveragePricePerCallMinor : PricePerCallMinor;
}

/// <summary>What an invoice line charges for (the values of <c>LineKind</c>).</summary>
public enum LineKinds
{
    BaseFee = 1,
    IncludedCalls = 2,
    OverageCalls = 3,
    Adjustment = 4,
}

/// <summary>One invoice line: <see cref="AmountMinor"/> = <see cref="Quantity"/> × <see cref="UnitPriceMinor"/>.</summary>
public sealed record LineRecord(LineKinds Kind, string Description, long Quantity, long UnitPriceMinor, long AmountMinor, string? AdjustmentId = null);

/// <summary>
/// The invoice rules, in one place and in integer minor units with checked arithmetic: an amount
/// that does not fit in 64 bits throws <see cref="OverflowException"/>, it never wraps.
/// <list type="bullet">
/// <item>base fee: once per cycle when above 0;</item>
/// <item>included calls: min(billable, quota − calls counted before under an earlier subscription in
/// the same cycle) × price per call, or every billable call when the quota is 0 (unlimited);</item>
/// <item>overage calls: max(0, billable − quota) × overage price. Hard-capped plans are billed for
/// their overage too: the edge stops them within the documented enforcement bound, and what got
/// through was served.</item>
/// </list>
/// </summary>
public static class Pricing
{
    /// <summary>The base-fee and call lines for <paramref name="billableCalls"/> calls, and their sum.</summary>
    public static (List<LineRecord> Lines, long SubtotalMinor) Price(Terms terms, long billableCalls)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(billableCalls);
        var lines = new List<LineRecord>(3);
        if (terms.BasePriceMinor > 0)
        {
            lines.Add(new LineRecord(LineKinds.BaseFee, "Base fee for the billing cycle", 1, terms.BasePriceMinor, terms.BasePriceMinor));
        }

        var unlimited = terms.MonthlyQuota == 0;
        // The quota follows the consumer, the API and the cycle: what an earlier subscription used is gone.
        var left = unlimited ? 0 : Math.Max(0, terms.MonthlyQuota - terms.QuotaUsedBefore);
        var included = unlimited ? billableCalls : Math.Min(billableCalls, left);
        var overage = unlimited ? 0 : billableCalls - included;
        if (included > 0)
        {
            lines.Add(new LineRecord(LineKinds.IncludedCalls,
                unlimited ? "Billable calls" : IncludedDescription(terms),
                included, terms.PricePerCallMinor, checked(included * terms.PricePerCallMinor)));
        }
        if (overage > 0)
        {
            var price = terms.EffectiveOveragePriceMinor;
            lines.Add(new LineRecord(LineKinds.OverageCalls,
                terms.OverageAllowed ? "Billable calls beyond the quota" : "Billable calls beyond the quota (admitted within the hard cap's enforcement bound)",
                overage, price, checked(overage * price)));
        }
        return (lines, Sum(lines));
    }

    private static string IncludedDescription(Terms terms) => terms.QuotaUsedBefore == 0
        ? $"Billable calls within the quota of {terms.MonthlyQuota.ToString(CultureInfo.InvariantCulture)}"
        : string.Create(CultureInfo.InvariantCulture,
            $"Billable calls within the quota of {terms.MonthlyQuota} ({terms.QuotaUsedBefore} used earlier in the cycle under a previous subscription)");

    /// <summary>The checked sum of the lines' amounts.</summary>
    public static long Sum(IEnumerable<LineRecord> lines)
    {
        long sum = 0;
        foreach (var line in lines)
        {
            sum = checked(sum + line.AmountMinor);
        }
        return sum;
    }
}
