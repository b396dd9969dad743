using System.Diagnostics.Metrics;

namespace Veil.Edge.Usage;

/// <summary>
/// Metering instruments on the <c>Veil.Edge</c> meter: spool depth and oldest age, events shipped,
/// failed batches, events dropped (by reason), calls refused for an exhausted quota.
/// </summary>
internal sealed class UsageMetrics
{
    private readonly Counter<long> _shipped;
    private readonly Counter<long> _failedBatches;
    private readonly Counter<long> _quotaRejected;

    public UsageMetrics(IMeterFactory meterFactory, UsageSpool spool, QuotaWatcher quotas)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        meter.CreateObservableGauge("veil.edge.usage.spool.depth", () => spool.Depth, "{event}",
            "Usage events in the local spool, waiting to be acknowledged by usage.");
        meter.CreateObservableGauge("veil.edge.usage.spool.oldest_age", () => spool.OldestAge.TotalSeconds, "s",
            "Age of the oldest spooled usage event (0 when the spool is empty).");
        meter.CreateObservableGauge("veil.edge.usage.pending", () => spool.Pending, "{event}",
            "Usage events in memory, not yet committed to the spool (lost on a crash).");
        meter.CreateObservableGauge("veil.edge.quota.exhausted", () => quotas.Count, "{subscription}",
            "Exhausted hard-capped subscriptions this edge refuses with 429.");
        meter.CreateObservableGauge("veil.edge.quota.watch.connected", () => quotas.Connected ? 1 : 0, "{stream}",
            "1 while the quota watch stream to usage is connected.");
        _shipped = meter.CreateCounter<long>("veil.edge.usage.shipped", "{event}",
            "Usage events acknowledged by usage and removed from the spool.");
        _failedBatches = meter.CreateCounter<long>("veil.edge.usage.ship.failures", "{batch}",
            "IngestEvents calls that failed (the batch stays spooled and is retried).");
        meter.CreateObservableCounter("veil.edge.usage.dropped", () => new[]
        {
            new Measurement<long>(spool.DroppedChannelFull, new KeyValuePair<string, object?>("reason", UsageSpool.ChannelFull)),
            new Measurement<long>(spool.DroppedSpoolFull, new KeyValuePair<string, object?>("reason", UsageSpool.SpoolFull)),
        }, "{event}", "Usage events dropped by reason (channel_full, spool_full): calls that will never be billed. Alarm on any.");
        _quotaRejected = meter.CreateCounter<long>("veil.edge.quota.rejected", "{request}",
            "API calls refused with 429 because the subscription's hard quota is exhausted.");
    }

    public void Shipped(int count) => _shipped.Add(count);

    public void ShipFailed() => _failedBatches.Add(1);

    public void QuotaRejected(string apiId) => _quotaRejected.Add(1, new KeyValuePair<string, object?>("veil.api_id", apiId));
}
