using System.Runtime.CompilerServices;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// The active health policy of every API with a health check (<see cref="ApiUpstreams.ThresholdHealthPolicy"/>):
/// YARP's ConsecutiveFailures has no way back but a single success; this one needs
/// healthy_threshold successes in a row to bring an unhealthy target back (<see cref="TargetHealth.Record"/>).
/// YARP sends the probes (GET {target URL}{path}, through the cluster's own client, so the SSRF
/// guard and connect timeout apply) and hands each round's results here; the new states decide
/// which targets stay in rotation. Each edge probes on its own.
/// </summary>
internal sealed class ThresholdHealthPolicy(IDestinationHealthUpdater updater, TimeProvider time, UpstreamMetrics metrics,
    ILogger<ThresholdHealthPolicy> logger) : IActiveHealthCheckPolicy
{
    private readonly ConditionalWeakTable<DestinationState, TargetHealth> _targets = new();

    public string Name => ApiUpstreams.ThresholdHealthPolicy;

    public void ProbingCompleted(ClusterState cluster, IReadOnlyList<DestinationProbingResult> probingResults)
    {
        if (probingResults.Count == 0)
        {
            return;
        }
        var config = cluster.Model.Config;
        var apiId = config.Metadata?.GetValueOrDefault(ApiRoute.ApiIdKey) ?? cluster.ClusterId;
        var (healthy, unhealthy) = ApiUpstreams.Thresholds(config);
        var now = time.GetUtcNow();
        var states = new NewActiveDestinationHealth[probingResults.Count];
        for (var i = 0; i < probingResults.Count; i++)
        {
            var result = probingResults[i];
            var destination = result.Destination;
            var success = result.Response is { IsSuccessStatusCode: true };
            var error = success || result.Response is not null ? null : ErrorOf(result.Exception);
            var target = _targets.GetValue(destination, static _ => new TargetHealth());
            var before = destination.Health.Active;
            var after = target.Record(destination.Model.Config.Address, success, (int?)result.Response?.StatusCode, error, now, healthy, unhealthy);
            states[i] = new NewActiveDestinationHealth(destination, after);
            metrics.Probed(apiId, destination.DestinationId, success);
            if (after != before && after == DestinationHealth.Unhealthy)
            {
                UpstreamsLog.TargetUnhealthy(logger, apiId, destination.DestinationId, unhealthy,
                    result.Response is { } response ? ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : error ?? "");
            }
            else if (after != before && before == DestinationHealth.Unhealthy)
            {
                UpstreamsLog.TargetHealthy(logger, apiId, destination.DestinationId, healthy);
            }
        }
        var wasServing = cluster.DestinationsState.AvailableDestinations.Count > 0;
        updater.SetActive(cluster, states);
        if (wasServing && cluster.DestinationsState.AvailableDestinations.Count == 0)
        {
            UpstreamsLog.NoHealthyTarget(logger, apiId, ApiUpstreams.RetryAfterSeconds(config));
        }
    }

    /// <summary>What this edge knows of <paramref name="destination"/>'s probes, or null before its first.</summary>
    public TargetHealthSnapshot? Find(DestinationState destination) =>
        _targets.TryGetValue(destination, out var target) ? target.Snapshot() : null;

    /// <summary>Why a probe got no response, in words that never name an address.</summary>
    private static string ErrorOf(Exception? exception) => exception switch
    {
        _ when AddressNotAllowedException.Find(exception) is not null => "address_not_allowed",
        OperationCanceledException => "timeout",
        HttpRequestException => "connection_failed",
        _ => "error",
    };
}
