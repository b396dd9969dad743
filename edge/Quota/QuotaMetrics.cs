using System.Diagnostics.Metrics;

namespace Veil.Edge.Quota;

/// <summary>
/// The quota step's instruments on the <c>Veil.Edge</c> meter: exhausted subscriptions, the watch
/// stream's state, calls refused for an exhausted quota.
/// </summary>
internal sealed class QuotaMetrics
{
    private readonly Counter<long> _rejected;

    public QuotaMetrics(IMeterFactory meterFactory, QuotaWatcher quotas)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        meter.CreateObservableGauge("veil.edge.quota.exhausted", () => quotas.Count, "{subscription}",
            "Exhausted hard-capped subscriptions this edge refuses with 429.");
        meter.CreateObservableGauge("veil.edge.quota.watch.connected", () => quotas.Connected ? 1 : 0, "{stream}",
            "1 while the quota watch stream to usage is connected.");
        _rejected = meter.CreateCounter<long>("veil.edge.quota.rejected", "{request}",
            "API calls refused with 429 because the subscription's hard quota is exhausted.");
    }

    public void Rejected(string apiId) => _rejected.Add(1, new KeyValuePair<string, object?>("veil.api_id", apiId));
}
