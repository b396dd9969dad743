using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Veil.Usage;

/// <summary>Usage settings, bound from the <c>Usage</c> section.</summary>
public sealed class UsageOptions
{
    public const string SectionName = "Usage";

    /// <summary>
    /// How far back an event may have occurred and still be counted. An event id is remembered
    /// at least this long; an older event is quarantined, because it could be a replay of one
    /// whose record has been pruned. At least 7 days by design.
    /// </summary>
    [Range(typeof(TimeSpan), "7.00:00:00", "3650.00:00:00")]
    public TimeSpan DedupWindow { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How far in the future an event may claim to have occurred (edge clock skew).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Largest batch IngestEvents accepts.</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 10_000;

    /// <summary>
    /// Allows webhook URLs that name loopback, private, link-local or unspecified addresses and
    /// <c>localhost</c>, and connecting to names that resolve to them. Off by default (SSRF guard,
    /// the same rule as catalog's upstreams); local fleets and tests turn it on.
    /// </summary>
    public bool AllowPrivateWebhooks { get; set; }

    /// <summary>
    /// Least time between two rollup steps. Longer intervals write each rollup row less often
    /// under load; the rollups trail the raw events by about this much.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RollupInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the quota state is recomputed even when nothing signals a change (a safety net).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan QuotaRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Webhook delivery.</summary>
    [ValidateObjectMembers]
    public WebhookOptions Webhooks { get; set; } = new();

    /// <summary>How the dispatcher delivers the outbox.</summary>
    public sealed class WebhookOptions
    {
        /// <summary>Delay before the second attempt; doubled after each failure up to <see cref="MaxBackoff"/>.</summary>
        [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
        public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>Longest delay between attempts.</summary>
        [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
        public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>Attempts per notification before it is marked failed (15 ≈ 34 minutes of retrying with the defaults).</summary>
        [Range(1, 100)]
        public int MaxAttempts { get; set; } = 15;

        /// <summary>How long one attempt may take, connect to last byte.</summary>
        [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>Attempts made in parallel.</summary>
        [Range(1, 64)]
        public int Concurrency { get; set; } = 4;
    }
}
