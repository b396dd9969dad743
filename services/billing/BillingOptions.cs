using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Veil.Billing;

/// <summary>Billing settings, bound from the <c>Billing</c> section.</summary>
public sealed partial class BillingOptions : IValidatableObject
{
    public const string SectionName = "Billing";

    /// <summary>How often drafts are brought up to date with usage's counters and due drafts are finalised.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan DraftRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long after a cycle's end its invoice stays a draft. Usage counts events within 5 minutes,
    /// so the grace may not be shorter than that: late-but-normal events must land before finalisation.
    /// </summary>
    [Range(typeof(TimeSpan), "00:05:00", "7.00:00:00")]
    public TimeSpan FinalizationGrace { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often reconciliation recounts recent cycles from the raw events.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan ReconciliationInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Reconciliation recounts every cycle that ended within this span (and every open one): the
    /// default covers the last two finalised cycles. Usage must keep raw events at least this long.
    /// </summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "400.00:00:00")]
    public TimeSpan ReconciliationLookback { get; set; } = TimeSpan.FromDays(62);

    /// <summary>Deadline of each call to usage made by the jobs (one page of cycles), retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan UsageTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a read (GetInvoice of a draft) waits for usage before serving the last computed state.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan ReadRefreshTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deadline of each call to subscriptions (GetCycleTerms, one page of ListSubscriptionsForBilling), retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan SubscriptionsTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Per currency (ISO 4217 code → minor units): an account whose unpaid finalised invoices in that
    /// currency total more than this is on credit hold. A currency not listed never causes a hold.
    /// </summary>
    public Dictionary<string, long> CreditHoldThresholdMinor { get; set; } = new(StringComparer.Ordinal);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (currency, threshold) in CreditHoldThresholdMinor)
        {
            if (!CurrencyCode().IsMatch(currency))
            {
                yield return new ValidationResult($"Billing:CreditHoldThresholdMinor: '{currency}' is not an ISO 4217 code (three upper-case letters).");
            }
            if (threshold < 0)
            {
                yield return new ValidationResult($"Billing:CreditHoldThresholdMinor:{currency} must be 0 or more minor units.");
            }
        }
    }

    [GeneratedRegex("^[A-Z]{3}$", RegexOptions.CultureInvariant)]
    internal static partial Regex CurrencyCode();
}
