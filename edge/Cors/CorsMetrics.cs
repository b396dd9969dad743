using System.Diagnostics.Metrics;

namespace Veil.Edge.Cors;

/// <summary>The CORS step's instruments on the <c>Veil.Edge</c> meter: preflights the edge answered.</summary>
internal sealed class CorsMetrics
{
    /// <summary>The <c>veil.api_id</c> value of a management route's preflight.</summary>
    public const string ManagementApiId = "management";

    private readonly Counter<long> _preflights;

    public CorsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        _preflights = meter.CreateCounter<long>("veil.edge.cors.preflights", "{request}",
            "CORS preflight requests answered by the edge (never forwarded), by API and whether the origin is allowed.");
    }

    public void Preflight(string apiId, bool allowed) => _preflights.Add(1,
        new KeyValuePair<string, object?>("veil.api_id", apiId),
        new KeyValuePair<string, object?>("veil.cors.allowed", allowed));
}
