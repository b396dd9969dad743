namespace Veil.Billing.Tests;

/// <summary>The invoice rules on their own: exact integer minor units, checked arithmetic.</summary>
public sealed class PricingTests
{
    public static TheoryData<long, long, long, long, bool, long, (LineKinds, long, long, long)[], long> Cases => new()
    {
        // base, price, overage price, quota, overage allowed, billable → lines (kind, quantity, unit, amount), subtotal
        { 0, 2, 0, 0, false, 10, [(LineKinds.IncludedCalls, 10, 2, 20)], 20 },
        { 500, 2, 0, 0, false, 0, [(LineKinds.BaseFee, 1, 500, 500)], 500 },
        { 0, 2, 5, 100, true, 150, [(LineKinds.IncludedCalls, 100, 2, 200), (LineKinds.OverageCalls, 50, 5, 250)], 450 },
        { 0, 2, 5, 100, true, 100, [(LineKinds.IncludedCalls, 100, 2, 200)], 200 },
        // A hard cap lets a few calls through within its enforcement bound: billed at the overage price (here the per-call price).
        { 0, 2, 0, 100, false, 103, [(LineKinds.IncludedCalls, 100, 2, 200), (LineKinds.OverageCalls, 3, 2, 6)], 206 },
        { 0, 0, 0, 0, false, 7, [(LineKinds.IncludedCalls, 7, 0, 0)], 0 },
        { 1_000, 0, 9, 10, true, 11, [(LineKinds.BaseFee, 1, 1_000, 1_000), (LineKinds.IncludedCalls, 10, 0, 0), (LineKinds.OverageCalls, 1, 9, 9)], 1_009 },
        // 2^53 + 1 would be rounded by a double; integers keep it.
        { 0, 9_007_199_254_740_993, 0, 0, false, 1, [(LineKinds.IncludedCalls, 1, 9_007_199_254_740_993, 9_007_199_254_740_993)], 9_007_199_254_740_993 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Price_Terms_ExactLines(long basePrice, long price, long overagePrice, long quota, bool overageAllowed, long billable,
        (LineKinds, long, long, long)[] lines, long subtotal)
    {
        var terms = new Terms(basePrice, price, overagePrice, quota, overageAllowed, "USD");

        var (actual, actualSubtotal) = Pricing.Price(terms, billable);

        Assert.Equal(lines, actual.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal(subtotal, actualSubtotal);
    }

    public static TheoryData<long, bool, long, long, (LineKinds, long, long, long)[], long> EarlierSubscriptionCases => new()
    {
        // quota, overage allowed, used before under an earlier subscription this cycle, billable → lines, subtotal (price 2, overage 5, fee 300)
        { 100, true, 60, 50, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.IncludedCalls, 40, 2, 80), (LineKinds.OverageCalls, 10, 5, 50)], 430 },
        { 100, true, 100, 30, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.OverageCalls, 30, 5, 150)], 450 },
        { 100, true, 250, 30, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.OverageCalls, 30, 5, 150)], 450 },
        { 100, false, 95, 8, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.IncludedCalls, 5, 2, 10), (LineKinds.OverageCalls, 3, 5, 15)], 325 },
        { 100, true, 0, 50, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.IncludedCalls, 50, 2, 100)], 400 },
        // Unlimited plans have nothing to use up.
        { 0, false, 1_000, 50, [(LineKinds.BaseFee, 1, 300, 300), (LineKinds.IncludedCalls, 50, 2, 100)], 400 },
    };

    [Theory]
    [MemberData(nameof(EarlierSubscriptionCases))]
    public void Price_QuotaUsedBeforeInTheCycle_OnlyTheRestIsIncluded(long quota, bool overageAllowed, long usedBefore, long billable,
        (LineKinds, long, long, long)[] lines, long subtotal)
    {
        // Issue 12, item 10: a subscription continuing the cycle of a cancelled one does not get the quota again.
        var terms = new Terms(300, 2, 5, quota, overageAllowed, "USD", usedBefore);

        var (actual, actualSubtotal) = Pricing.Price(terms, billable);

        Assert.Equal(lines, actual.Select(l => (l.Kind, l.Quantity, l.UnitPriceMinor, l.AmountMinor)).ToArray());
        Assert.Equal(subtotal, actualSubtotal);
        if (usedBefore > 0 && quota > 0 && actual.Any(l => l.Kind == LineKinds.IncludedCalls))
        {
            Assert.Contains($"{usedBefore} used earlier in the cycle", actual.Single(l => l.Kind == LineKinds.IncludedCalls).Description, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(0, long.MaxValue, 2)]
    [InlineData(long.MaxValue, 1, 1)]
    [InlineData(0, 4_611_686_018_427_387_904, 2)]
    public void Price_AmountBeyond64Bits_ThrowsInsteadOfWrapping(long basePrice, long price, long billable)
    {
        var terms = new Terms(basePrice, price, 0, 0, false, "USD");

        Assert.Throws<OverflowException>(() => Pricing.Price(terms, billable));
    }
}
