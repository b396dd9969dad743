using System.Diagnostics.Metrics;

namespace Veil.Usage;

/// <summary>The <c>Veil.Usage</c> meter: ingest outcomes and speed, quota states, webhook deliveries, retention.</summary>
public sealed class UsageMetrics
{
    public const string MeterName = "Veil.Usage";

    private readonly Counter<long> _events;
    private readonly Counter<long> _quarantinedBillable;
    private readonly Histogram<double> _batchDuration;
    private readonly Histogram<double> _lag;
    private readonly Counter<long> _rolledUp;
    private readonly Histogram<double> _rollupLag;
    private readonly Counter<long> _notifications;
    private readonly Counter<long> _deliveries;
    private readonly UpDownCounter<long> _watchers;
    private readonly Counter<long> _retentionDeleted;
    private readonly Counter<long> _retentionRuns;
    private readonly Counter<long> _keyExpiryNotices;
    private readonly Counter<long> _keyExpiryPasses;
    private int _exhausted;
    private long _lastRetentionRunMs = -1;

    public UsageMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _events = meter.CreateCounter<long>("veil.usage.events", unit: "{event}",
            description: "Events received by IngestEvents, by outcome (accepted, duplicate, quarantined).");
        _quarantinedBillable = meter.CreateCounter<long>("veil.usage.quarantined.billable", unit: "{event}",
            description: "Quarantined events that were billable: calls a consumer was answered for and is not charged for until an operator looks. Alert on any.");
        // Exported at 0 from the start, so the alert's increase() sees the first one (docs/operations.md).
        _quarantinedBillable.Add(0);
        _batchDuration = meter.CreateHistogram<double>("veil.usage.ingest.duration", unit: "s",
            description: "Time to store one ingest batch, commit included.");
        _lag = meter.CreateHistogram<double>("veil.usage.ingest.lag", unit: "s",
            description: "Age of the oldest accepted event of each batch when it was stored (edge spool + ship delay).");
        _rolledUp = meter.CreateCounter<long>("veil.usage.rollup.events", unit: "{event}",
            description: "Events folded into the minute/hour/day rollups.");
        _rollupLag = meter.CreateHistogram<double>("veil.usage.rollup.lag", unit: "s",
            description: "Time from an event's ingest to its rollup step (the oldest event of each step). Promise: under 300 s.");
        _notifications = meter.CreateCounter<long>("veil.usage.notifications", unit: "{notification}",
            description: "Quota notifications queued, by threshold (80, 100).");
        _deliveries = meter.CreateCounter<long>("veil.usage.webhook.attempts", unit: "{attempt}",
            description: "Webhook delivery attempts, by outcome (delivered, retry, failed, no_webhook).");
        _watchers = meter.CreateUpDownCounter<long>("veil.usage.quota_watchers", unit: "{stream}",
            description: "Connected WatchQuotaStates streams.");
        meter.CreateObservableGauge("veil.usage.quota.exhausted", () => Volatile.Read(ref _exhausted), unit: "{subscription}",
            description: "Hard-capped subscriptions whose current cycle is exhausted.");
        _retentionDeleted = meter.CreateCounter<long>("veil.usage.retention.deleted", unit: "{row}",
            description: "Rows deleted by the retention job, by table (events, quarantine).");
        _retentionRuns = meter.CreateCounter<long>("veil.usage.retention.runs", unit: "{run}",
            description: "Retention runs, by outcome (succeeded, failed).");
        _keyExpiryNotices = meter.CreateCounter<long>("veil.usage.key_expiry.notices", unit: "{notification}",
            description: "API key expiry notices queued.");
        _keyExpiryPasses = meter.CreateCounter<long>("veil.usage.key_expiry.passes", unit: "{pass}",
            description: "Key-expiry notifier passes, by outcome (succeeded, failed: identity did not answer).");
        meter.CreateObservableGauge("veil.usage.retention.last_run", ObserveLastRetentionRun, unit: "s",
            description: "When the last successful retention run finished (Unix time); absent until one has.");
    }

    public void Ingested(int accepted, int duplicates, int quarantined, int quarantinedBillable, TimeSpan elapsed, TimeSpan? oldestLag)
    {
        _events.Add(accepted, new KeyValuePair<string, object?>("veil.outcome", "accepted"));
        _events.Add(duplicates, new KeyValuePair<string, object?>("veil.outcome", "duplicate"));
        _events.Add(quarantined, new KeyValuePair<string, object?>("veil.outcome", "quarantined"));
        if (quarantinedBillable > 0)
        {
            _quarantinedBillable.Add(quarantinedBillable);
        }
        _batchDuration.Record(elapsed.TotalSeconds);
        if (oldestLag is { } lag)
        {
            _lag.Record(Math.Max(0, lag.TotalSeconds));
        }
    }

    public void RolledUp(int events, TimeSpan lag)
    {
        _rolledUp.Add(events);
        _rollupLag.Record(Math.Max(0, lag.TotalSeconds));
    }

    public void NotificationQueued(int thresholdPercent) =>
        _notifications.Add(1, new KeyValuePair<string, object?>("veil.threshold", thresholdPercent));

    public void KeyExpiryPass(bool succeeded, int queued)
    {
        _keyExpiryPasses.Add(1, new KeyValuePair<string, object?>("veil.outcome", succeeded ? "succeeded" : "failed"));
        if (queued > 0)
        {
            _keyExpiryNotices.Add(queued);
        }
    }

    public void DeliveryAttempt(string outcome) =>
        _deliveries.Add(1, new KeyValuePair<string, object?>("veil.outcome", outcome));

    public void WatcherConnected() => _watchers.Add(1);

    public void WatcherDisconnected() => _watchers.Add(-1);

    public void ExhaustedSubscriptions(int count) => Volatile.Write(ref _exhausted, count);

    public void RetentionDeleted(string table, int rows)
    {
        if (rows > 0)
        {
            _retentionDeleted.Add(rows, new KeyValuePair<string, object?>("veil.table", table));
        }
    }

    /// <summary>Counts a run; a successful one also records when it finished.</summary>
    public void RetentionRun(bool succeeded, DateTimeOffset? finishedAt)
    {
        _retentionRuns.Add(1, new KeyValuePair<string, object?>("veil.outcome", succeeded ? "succeeded" : "failed"));
        if (finishedAt is { } at)
        {
            Interlocked.Exchange(ref _lastRetentionRunMs, at.ToUnixTimeMilliseconds());
        }
    }

    private IEnumerable<Measurement<double>> ObserveLastRetentionRun()
    {
        var ms = Interlocked.Read(ref _lastRetentionRunMs);
        return ms < 0 ? [] : [new Measurement<double>(ms / 1000.0)];
    }
}
