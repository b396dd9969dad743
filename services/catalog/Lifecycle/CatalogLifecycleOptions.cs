using System.ComponentModel.DataAnnotations;

namespace Veil.Catalog.Lifecycle;

/// <summary>API lifecycle settings, bound from <c>Catalog:Lifecycle</c> (docs/catalog.md, "Lifecycle").</summary>
public sealed class CatalogLifecycleOptions
{
    public const string SectionName = "Catalog:Lifecycle";

    /// <summary>The sunset of a DeleteApi that names none (and whose deprecation has none still ahead): now + this. Default 30 days.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan DefaultSunset { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a lifecycle change waits for subscriptions' SetApiLifecycle before answering anyway (then retried in the background). Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan SubscriptionsTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a lifecycle subscriptions has not acknowledged is pushed again. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SyncRetryInterval { get; set; } = TimeSpan.FromSeconds(5);
}
