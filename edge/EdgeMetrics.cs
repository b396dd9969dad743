using System.Diagnostics;
using System.Diagnostics.Metrics;
using Veil.Edge.Routing;

namespace Veil.Edge;

/// <summary>
/// The <c>Veil.Edge</c> meter: API requests by outcome, auth cache lookups, outbound auth calls and
/// the config revision served. Tag values come from small fixed sets (plus API ids), never keys.
/// </summary>
internal sealed class EdgeMetrics
{
    public const string MeterName = "Veil.Edge";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _cacheLookups;
    private readonly Counter<long> _authCalls;

    public EdgeMetrics(IMeterFactory meterFactory, GatewayRouteTable routes)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("veil.edge.requests", "{request}",
            "API requests through the edge by API and outcome (authorized, unauthenticated, forbidden, unavailable, upstream_error, client_aborted).");
        _duration = meter.CreateHistogram<double>("veil.edge.request.duration", "s",
            "Time from the edge's API pipeline start to the end of the upstream response, by API and outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30] });
        _cacheLookups = meter.CreateCounter<long>("veil.edge.auth.cache.lookups", "{lookup}",
            "Key and entitlement cache lookups by cache (api_key, entitlement) and result (hit, miss).");
        _authCalls = meter.CreateCounter<long>("veil.edge.auth.calls", "{call}",
            "Outbound calls to identity (ValidateApiKey) and subscriptions (CheckEntitlement) by service and result (ok, error).");
        meter.CreateObservableGauge("veil.edge.config.revision", () => Math.Max(0, routes.ServedRevision), "{revision}",
            "The catalog gateway-config revision this edge serves (0 before the first one).");
        meter.CreateObservableGauge("veil.edge.config.routes", () => routes.ServedApiRouteCount, "{route}",
            "API routes this edge serves.");
    }

    public void Request(string apiId, string outcome, long startTimestamp)
    {
        var tags = new TagList { { "veil.api_id", apiId }, { "outcome", outcome } };
        _requests.Add(1, tags);
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    public void CacheLookup(string cache, bool hit) =>
        _cacheLookups.Add(1, new KeyValuePair<string, object?>("cache", cache), new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));

    public void AuthCall(string service, bool ok) =>
        _authCalls.Add(1, new KeyValuePair<string, object?>("service", service), new KeyValuePair<string, object?>("result", ok ? "ok" : "error"));
}

/// <summary>Outcome tag values of <c>veil.edge.requests</c>.</summary>
internal static class Outcomes
{
    public const string Authorized = "authorized";
    public const string Unauthenticated = "unauthenticated";
    public const string Forbidden = "forbidden";
    public const string Unavailable = "unavailable";
    public const string UpstreamError = "upstream_error";
    public const string ClientAborted = "client_aborted";
}
