using System.Diagnostics.Metrics;
using Veil.Edge.Calls;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// The upstream step's instruments on the <c>Veil.Edge</c> meter: each probed target's state and
/// the probes sent. Tagged with the API id and the target id (<c>t0</c>, …), never an address.
/// </summary>
internal sealed class UpstreamMetrics
{
    private const string ApiIdTag = "veil.api_id";
    private const string TargetTag = "veil.target";

    private readonly Counter<long> _probes;

    // The proxy state is resolved when first observed: YARP's config manager depends (through the
    // health monitor and the policy) on this class.
    public UpstreamMetrics(IMeterFactory meterFactory, IServiceProvider services)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        meter.CreateObservableGauge("veil.edge.upstream.healthy", () => Observe(services.GetRequiredService<IProxyStateLookup>()), "{target}",
            "1 while a target of an API with health checks is healthy on this edge, 0 while unhealthy; absent until its first verdict.");
        _probes = meter.CreateCounter<long>("veil.edge.upstream.probes", "{probe}",
            "Active health probes sent to an API's targets, by result (success: a 2xx answer).");
    }

    public void Probed(string apiId, string target, bool success) => _probes.Add(1,
        new KeyValuePair<string, object?>(ApiIdTag, apiId),
        new KeyValuePair<string, object?>(TargetTag, target),
        new KeyValuePair<string, object?>("veil.result", success ? "success" : "failure"));

    private static IEnumerable<Measurement<int>> Observe(IProxyStateLookup proxy)
    {
        foreach (var cluster in proxy.GetClusters())
        {
            var config = cluster.Model?.Config;
            if (config?.HealthCheck?.Active?.Enabled != true || config.Metadata?.GetValueOrDefault(ApiRoute.ApiIdKey) is not { } apiId)
            {
                continue;
            }
            foreach (var destination in cluster.Destinations.Values)
            {
                var state = destination.Health.Active;
                if (state != DestinationHealth.Unknown)
                {
                    yield return new Measurement<int>(state == DestinationHealth.Healthy ? 1 : 0,
                        new KeyValuePair<string, object?>(ApiIdTag, apiId),
                        new KeyValuePair<string, object?>(TargetTag, destination.DestinationId));
                }
            }
        }
    }
}
