using System.ComponentModel.DataAnnotations;

namespace Veil.Subscriptions;

/// <summary>Subscriptions settings, bound from the <c>Subscriptions</c> section.</summary>
public sealed class SubscriptionsOptions
{
    public const string SectionName = "Subscriptions";

    /// <summary>Deadline of each call to catalog, retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan CatalogTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Deadline of the credit-hold check made to billing before a paid subscription, retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan BillingTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Most plans one API may have.</summary>
    [Range(1, 100_000)]
    public int MaxPlansPerApi { get; set; } = 100;

    /// <summary>Deadline of each NotifyConsumers call to usage (plan.changed notices), retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan UsageTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often queued plan.changed notices are offered to usage again when it did not take them (an UpdatePlan wakes the sender at once).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan NoticeRetryInterval { get; set; } = TimeSpan.FromSeconds(30);
}
