using System.ComponentModel.DataAnnotations;

namespace Veil.Edge.Quota;

/// <summary>
/// The quota step's keys of the <c>Edge:Usage</c> section, which it shares with metering (one switch
/// turns both on or off).
/// </summary>
public sealed class QuotaOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Edge:Usage";

    /// <summary>
    /// Records usage events and enforces hard quotas. Off only to measure what metering costs: an edge
    /// without it bills nothing and caps nothing.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>First wait before reconnecting the quota watch; doubled up to <see cref="QuotaWatchBackoffMax"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan QuotaWatchBackoffInitial { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between quota watch reconnects.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan QuotaWatchBackoffMax { get; set; } = TimeSpan.FromSeconds(10);
}
