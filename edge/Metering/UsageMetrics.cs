using System.Diagnostics.Metrics;

namespace Veil.Edge.Metering;

/// <summary>
/// Metering instruments on the <c>Veil.Edge</c> meter: spool depth and oldest age, events shipped,
/// failed batches, events dropped (by reason). The quota step's are <c>QuotaMetrics</c>.
/// </summary>
internal sealed class UsageMetrics
{
    private readonly Counter<long> _shipped;
    private readonly Counter<long> _failedBatches;

    public UsageMetrics(IMeterFactory meterFactory, UsageSpool spool)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        meter.CreateObservableGauge("veil.edge.usage.spool.depth", () => spool.Depth, "{event}",
            "Usage events in the local spool, waiting to be acknowledged by usage.");
        meter.CreateObservableGauge("veil.edge.usage.spool.oldest_age", () => spool.OldestAge.TotalSeconds, "s",
            "Age of the oldest spooled usage event (0 when the spool is empty).");
        meter.CreateObservableGauge("veil.edge.usage.pending", () => spool.Pending, "{event}",
            "Usage events in memory, not yet committed to the spool (lost on a crash).");
        _shipped = meter.CreateCounter<long>("veil.edge.usage.shipped", "{event}",
            "Usage events acknowledged by usage and removed from the spool.");
        _failedBatches = meter.CreateCounter<long>("veil.edge.usage.ship.failures", "{batch}",
            "IngestEvents calls that failed (the batch stays spooled and is retried).");
        meter.CreateObservableCounter("veil.edge.usage.dropped", () => new[]
        {
            new Measurement<long>(spool.DroppedChannelFull, new KeyValuePair<string, object?>("reason", UsageSpool.ChannelFull)),
            new Measurement<long>(spool.DroppedSpoolFull, new KeyValuePair<string, object?>("reason", UsageSpool.SpoolFull)),
        }, "{event}", "Usage events dropped by reason (channel_full, spool_full): calls that will never be billed. Alarm on any.");
    }

    public void Shipped(int count) => _shipped.Add(count);

    public void ShipFailed() => _failedBatches.Add(1);
}
