using System.Globalization;
using Veil.Catalog.V1;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace Veil.Edge.Calls;

/// <summary>
/// How an API's targets are described to YARP (docs/load-balancing-and-health.md): the names of
/// the edge's own balancing and health policies, the metadata they read, and the active health
/// check a <see cref="HealthCheckPolicy"/> becomes. Routing writes them into each API's cluster
/// once per config; <c>Upstreams/</c> reads them.
/// </summary>
internal static class ApiUpstreams
{
    /// <summary>The load-balancing policy of "round_robin": weighted by <see cref="WeightKey"/>.</summary>
    public const string WeightedRoundRobin = "VeilWeightedRoundRobin";

    /// <summary>The active health policy: consecutive failures take a target out, consecutive successes bring it back.</summary>
    public const string ThresholdHealthPolicy = "VeilThresholds";

    /// <summary>Destination metadata key holding a target's weight (1 to 100).</summary>
    public const string WeightKey = "Veil.Weight";

    /// <summary>Cluster metadata keys holding the health check's thresholds.</summary>
    public const string HealthyThresholdKey = "Veil.HealthyThreshold";
    public const string UnhealthyThresholdKey = "Veil.UnhealthyThreshold";

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);
    public const int DefaultHealthyThreshold = 2;
    public const int DefaultUnhealthyThreshold = 3;

    /// <summary>
    /// The active health check of <paramref name="policy"/> (null: none, the cluster keeps YARP's
    /// defaults), its thresholds added to <paramref name="clusterMetadata"/>. Targets that fail it
    /// leave rotation, and with none left the API answers 503 (<c>HealthyAndUnknown</c>, not YARP's
    /// default <c>HealthyOrPanic</c>, which would send traffic to unhealthy targets).
    /// </summary>
    public static HealthCheckConfig? HealthCheck(HealthCheckPolicy? policy, IDictionary<string, string> clusterMetadata)
    {
        if (policy is not { Path.Length: > 0 })
        {
            return null;
        }
        clusterMetadata[HealthyThresholdKey] = Or(policy.HealthyThreshold, DefaultHealthyThreshold).ToString(CultureInfo.InvariantCulture);
        clusterMetadata[UnhealthyThresholdKey] = Or(policy.UnhealthyThreshold, DefaultUnhealthyThreshold).ToString(CultureInfo.InvariantCulture);
        return new HealthCheckConfig
        {
            AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyAndUnknown,
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Path = policy.Path,
                Interval = policy.IntervalMs > 0 ? TimeSpan.FromMilliseconds(policy.IntervalMs) : DefaultInterval,
                Timeout = policy.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(policy.TimeoutMs) : DefaultTimeout,
                Policy = ThresholdHealthPolicy,
            },
        };
    }

    /// <summary>The thresholds of a cluster's health check: (healthy, unhealthy).</summary>
    public static (int Healthy, int Unhealthy) Thresholds(ClusterConfig cluster) => (
        Threshold(cluster, HealthyThresholdKey, DefaultHealthyThreshold),
        Threshold(cluster, UnhealthyThresholdKey, DefaultUnhealthyThreshold));

    /// <summary>
    /// The <c>Retry-After</c> seconds of a 503 for lack of an available target: when the edge next
    /// looks again (the probe interval, else a passive check's reactivation period), at least 1.
    /// </summary>
    public static int RetryAfterSeconds(ClusterConfig? cluster)
    {
        var wait = cluster?.HealthCheck switch
        {
            { Active: { Enabled: true } active } => active.Interval ?? DefaultInterval,
            { Passive: { Enabled: true, ReactivationPeriod: { } period } } => period,
            _ => TimeSpan.FromSeconds(1),
        };
        return Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
    }

    private static int Or(int value, int fallback) => value > 0 ? value : fallback;

    private static int Threshold(ClusterConfig cluster, string key, int fallback) =>
        cluster.Metadata?.GetValueOrDefault(key) is { } text &&
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
}
