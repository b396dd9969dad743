using System.ComponentModel.DataAnnotations;

namespace Veil.Edge.Metering;

/// <summary>
/// Metering at the edge: the <c>Edge:Usage</c> section (see docs/usage-and-billing.md, "The edge
/// spool"). The quota step reads its own keys of the same section (<c>QuotaOptions</c>).
/// </summary>
public sealed class EdgeUsageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Edge:Usage";

    /// <summary>
    /// Records usage events and enforces hard quotas. Off only to measure what metering costs: an edge
    /// without it bills nothing and caps nothing.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The spool file; default <c>{Veil:DataDirectory}/edge-spool.db</c>.</summary>
    public string? SpoolPath { get; set; }

    /// <summary>
    /// Events held in memory between the request and the spool. The request never waits: when this
    /// is full the event is dropped and counted (<c>veil.edge.usage.dropped</c>, reason channel_full).
    /// </summary>
    [Range(1_000, 10_000_000)]
    public int ChannelCapacity { get; set; } = 200_000;

    /// <summary>
    /// Longest time an event waits in memory before its group is committed (one fsync per group).
    /// With <see cref="GroupCommitMaxEvents"/> this is the crash-loss window.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:00:05")]
    public TimeSpan GroupCommitInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A group is committed as soon as it holds this many events.</summary>
    [Range(1, 100_000)]
    public int GroupCommitMaxEvents { get; set; } = 1_000;

    /// <summary>
    /// Most events the spool holds. When full, new events are dropped and counted (reason spool_full)
    /// rather than evicting older ones or blocking requests.
    /// </summary>
    [Range(1_000, 1_000_000_000)]
    public long MaxSpoolEvents { get; set; } = 5_000_000;

    /// <summary>Most events per IngestEvents call (usage accepts up to 10,000).</summary>
    [Range(1, 10_000)]
    public int ShipBatchSize { get; set; } = 5_000;

    /// <summary>
    /// After catching up, how long the shipper lets committed groups gather before the next call
    /// (unless a full batch is spooled sooner). Larger batches cost usage less per event; this adds
    /// at most this much to the delay before usage counts a call (and to the quota bound).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan ShipInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Deadline of one IngestEvents call.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ShipTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait after a failed batch; doubled after each failure up to <see cref="ShipBackoffMax"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ShipBackoffInitial { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest wait between two attempts while usage is unreachable.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ShipBackoffMax { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a graceful stop keeps shipping what is spooled; the rest ships after the next start.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan StopShipTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
