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

    /// <summary>
    /// Longest wait of the sunset worker between two looks at the deleted APIs whose sunset has
    /// come: it also wakes at the earliest sunset ahead, so this only bounds how late a sunset is
    /// enforced after the clock was changed under it. Default 1 minute.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan SunsetCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Deadline of each NotifyConsumers call to usage (plan.changed, api.deprecated, api.retiring notices), retries included. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan UsageTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often queued notices (plan changes, deprecations) that usage did not take are handed over again; a change wakes the senders at once. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan NoticeRetryInterval { get; set; } = TimeSpan.FromSeconds(30);
}
