using System.Diagnostics.Metrics;

namespace Veil.Catalog;

/// <summary>The <c>Veil.Catalog</c> meter: config changes and connected gateway watchers.</summary>
public sealed class CatalogMetrics
{
    public const string MeterName = "Veil.Catalog";

    private readonly Counter<long> _changes;
    private readonly UpDownCounter<long> _watchers;

    public CatalogMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _changes = meter.CreateCounter<long>("veil.catalog.config_changes", description: "API config versions created (create or update).");
        _watchers = meter.CreateUpDownCounter<long>("veil.catalog.gateway_watchers", description: "Connected WatchGatewayConfig streams.");
    }

    public void ConfigChanged(string kind) => _changes.Add(1, new KeyValuePair<string, object?>("veil.change", kind));

    public void WatcherConnected() => _watchers.Add(1);

    public void WatcherDisconnected() => _watchers.Add(-1);
}
