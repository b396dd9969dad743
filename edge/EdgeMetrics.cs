using System.Diagnostics.Metrics;
using Veil.Edge.Dependencies;
using Veil.Edge.Routing;

namespace Veil.Edge;

/// <summary>
/// The <c>Veil.Edge</c> meter: auth cache lookups, outbound auth calls and the config revision
/// served. Tag values come from small fixed sets, never keys. API requests by API and outcome are
/// the framework's <c>http.server.request.duration</c>, tagged by <see cref="Calls.ApiCallMiddleware"/>.
/// Per-request counts are plain interlocked counters read by observable instruments at collection
/// time, so a request pays no tag lookup.
/// </summary>
internal sealed class EdgeMetrics
{
    public const string MeterName = "Veil.Edge";

    private readonly Counter<long> _authCalls;
    private readonly Counter<long> _authInvalidations;
    // [cache * 2 + (hit ? 1 : 0)] for cache 0 = api_key, 1 = entitlement.
    private readonly long[] _cacheLookups = new long[4];

    public EdgeMetrics(IMeterFactory meterFactory, GatewayRouteTable routes, AuthChangeStreams changeStreams)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("veil.edge.auth.cache.lookups", ObserveCacheLookups, "{lookup}",
            "Key and entitlement cache lookups by cache (api_key, entitlement) and result (hit, miss).");
        _authCalls = meter.CreateCounter<long>("veil.edge.auth.calls", "{call}",
            "Outbound calls to identity (ValidateApiKey) and subscriptions (CheckEntitlement) by service and result (ok, error).");
        meter.CreateObservableGauge("veil.edge.config.revision", () => Math.Max(0, routes.ServedRevision), "{revision}",
            "The catalog gateway-config revision this edge serves (0 before the first one).");
        meter.CreateObservableGauge("veil.edge.config.routes", () => routes.ServedApiRouteCount, "{route}",
            "API routes this edge serves.");
        meter.CreateObservableCounter("veil.edge.config.rejected", () => routes.RejectedRouteVersions, "{version}",
            "API config versions this edge could not apply (each counted once): it keeps serving the API's last good version, if any.");
        meter.CreateObservableGauge("veil.edge.config.stale_routes", () => routes.StaleApiRoutes, "{route}",
            "APIs served at an earlier config version because their current one could not be applied.");
        meter.CreateObservableGauge("veil.edge.auth.change_stream.connected",
            () => changeStreams.All.Select(s => new Measurement<int>(s.Connected ? 1 : 0, new KeyValuePair<string, object?>("service", s.Service))),
            "{stream}", "1 while the change stream from identity (key revocations) or subscriptions (cancellations) is connected; " +
            "0 while revocations fall back to the cache TTL.");
        _authInvalidations = meter.CreateCounter<long>("veil.edge.auth.invalidations", "{invalidation}",
            "Changes pushed by identity and subscriptions, by service and type (change: one entry dropped; resync: the whole cache flushed).");
    }

    public void CacheLookup(AuthCache cache, bool hit) => Interlocked.Increment(ref _cacheLookups[((int)cache * 2) + (hit ? 1 : 0)]);

    private IEnumerable<Measurement<long>> ObserveCacheLookups()
    {
        for (var i = 0; i < _cacheLookups.Length; i++)
        {
            yield return new Measurement<long>(Volatile.Read(ref _cacheLookups[i]),
                new KeyValuePair<string, object?>("cache", i / 2 == 0 ? "api_key" : "entitlement"),
                new KeyValuePair<string, object?>("result", i % 2 == 1 ? "hit" : "miss"));
        }
    }

    public void AuthInvalidation(string service, bool resync, int changes = 1) =>
        _authInvalidations.Add(resync ? 1 : changes, new KeyValuePair<string, object?>("service", service),
            new KeyValuePair<string, object?>("type", resync ? "resync" : "change"));

    public void AuthCall(string service, bool ok) =>
        _authCalls.Add(1, new KeyValuePair<string, object?>("service", service), new KeyValuePair<string, object?>("result", ok ? "ok" : "error"));
}
