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
    /// Allows webhook URLs that name <c>localhost</c> or an address outside global unicast
    /// (loopback, private, link-local, …: <c>PrivateNetworks</c>), and connecting to names that
    /// resolve to them. Off by default (SSRF guard, the same rule as catalog's upstreams and the
    /// edge's); local fleets and tests turn it on.
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

    /// <summary>How long raw events and quarantined events are kept.</summary>
    [ValidateObjectMembers]
    public RetentionOptions Retention { get; set; } = new();

    /// <summary>Notices to consumers' webhooks before their API keys expire.</summary>
    [ValidateObjectMembers]
    public KeyExpiryNoticeOptions KeyExpiryNotices { get; set; } = new();

    /// <summary>How the key-expiry notifier asks identity for keys about to expire (docs/usage-and-billing.md, "Key-expiry notices").</summary>
    public sealed class KeyExpiryNoticeOptions
    {
        /// <summary>Off: no notices are queued and identity is never asked.</summary>
        public bool Enabled { get; set; } = true;

        /// <summary>How long before a key's expire_time its notice is sent (at the first pass within it).</summary>
        [Range(typeof(TimeSpan), "01:00:00", "90.00:00:00")]
        public TimeSpan Lead { get; set; } = TimeSpan.FromDays(7);

        /// <summary>Time between two passes; the first pass starts a minute after start (or one interval, if shorter).</summary>
        [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
        public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

        /// <summary>Deadline of each ListExpiringApiKeys page.</summary>
        [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    }

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

    /// <summary>What the retention job deletes, and how (docs/usage-and-billing.md, "Retention").</summary>
    public sealed class RetentionOptions
    {
        /// <summary>
        /// A billing cycle lasts at most 31 days, and an event may precede its subscription's start
        /// by up to a day (it then counts in the first cycle): a cycle that ends after a moment T
        /// holds no event that occurred before T − 32 days.
        /// </summary>
        public static readonly TimeSpan LongestCycleReach = TimeSpan.FromDays(32);

        /// <summary>Off: the job never runs and nothing is deleted (the cross-checks are skipped too).</summary>
        public bool Enabled { get; set; } = true;

        /// <summary>Time between two runs; the first run starts a minute after start (or one interval, if shorter).</summary>
        [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
        public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

        /// <summary>
        /// A raw event (and with it its id, the dedup record) is deleted once it both occurred and
        /// was received longer ago than this. At least <see cref="UsageOptions.DedupWindow"/> and
        /// <see cref="ReconciliationLookback"/> + 32 days: 62 + 32 = 94, so 95 days by default.
        /// </summary>
        [Range(typeof(TimeSpan), "7.00:00:00", "3650.00:00:00")]
        public TimeSpan RawEvents { get; set; } = TimeSpan.FromDays(95);

        /// <summary>
        /// Billing's <c>Billing:ReconciliationLookback</c> (or more): billing recounts from the raw
        /// events every cycle that ended within this span, so none of their events may be deleted.
        /// </summary>
        [Range(typeof(TimeSpan), "1.00:00:00", "400.00:00:00")]
        public TimeSpan ReconciliationLookback { get; set; } = TimeSpan.FromDays(62);

        /// <summary>
        /// How long the call log lists a call (by when it occurred): older calls are never listed, and
        /// their call-log rows (request id, path) are deleted once they also were received longer ago
        /// than this. The events themselves stay for <see cref="RawEvents"/>; no longer than that.
        /// </summary>
        [Range(typeof(TimeSpan), "01:00:00", "400.00:00:00")]
        public TimeSpan CallLog { get; set; } = TimeSpan.FromDays(7);

        /// <summary>A quarantined event is deleted once it was received longer ago than this.</summary>
        [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00")]
        public TimeSpan Quarantine { get; set; } = TimeSpan.FromDays(95);

        /// <summary>Rows examined per delete transaction: each holds the write lock (and ingest) only briefly.</summary>
        [Range(100, 50_000)]
        public int BatchSize { get; set; } = 5_000;

        /// <summary>The least <see cref="RawEvents"/> reconciliation allows with this <see cref="ReconciliationLookback"/>.</summary>
        public TimeSpan MinimumRawEvents => ReconciliationLookback + LongestCycleReach;
    }
}
