using Microsoft.Extensions.Options;
using Veil.Billing.Data;

namespace Veil.Billing;

/// <summary>
/// Decides credit holds: an account is on hold while a billing manager's manual hold stands, or
/// while its unpaid finalised invoices in some currency total more than that currency's
/// <see cref="BillingOptions.CreditHoldThresholdMinor"/>. Automatic holds are computed on each
/// question, never stored, so paying an invoice lifts them at once.
/// </summary>
public sealed class CreditHoldPolicy(BillingStore store, IOptionsMonitor<BillingOptions> options)
{
    /// <summary>The threshold for <paramref name="currency"/>, or null when none is configured.</summary>
    public long? ThresholdFor(string currency) =>
        options.CurrentValue.CreditHoldThresholdMinor.TryGetValue(currency, out var threshold) ? threshold : null;

    /// <summary>Whether a balance is over its currency's threshold.</summary>
    public bool IsOver(BalanceRecord balance) => ThresholdFor(balance.Currency) is { } threshold && balance.UnpaidMinor > threshold;

    /// <summary>On hold or not, and why in words fit for the consumer (the manual hold's internal reason is not repeated).</summary>
    public async Task<(bool OnHold, string Reason)> CheckAsync(string accountId, CancellationToken cancellationToken)
    {
        var (hold, balances) = await store.GetStandingAsync(accountId, unpaidOnly: true, cancellationToken);
        if (hold is not null)
        {
            return (true, "A billing manager has placed the account on credit hold; contact billing to lift it.");
        }
        var over = balances.Where(IsOver).Select(b => b.Currency).ToList();
        return over.Count > 0
            ? (true, $"Unpaid invoices in {string.Join(", ", over)} exceed the account's credit limit; paying them lifts the hold.")
            : (false, "");
    }
}
