using Google.Protobuf;
using Veil.Catalog.V1;
using Yarp.ReverseProxy.Configuration;

namespace Veil.Edge.Calls;

/// <summary>
/// How routing hands an API's circuit-breaker and retry policies (docs/resilience.md) to the
/// resilience step: as protobuf JSON in the API cluster's metadata, which the step parses once per
/// cluster config. No key: the part's defaults (both on).
/// </summary>
internal static class ResiliencePolicies
{
    /// <summary>Cluster metadata key holding the API's <see cref="CircuitBreakerPolicy"/> as protobuf JSON.</summary>
    public const string CircuitBreakerKey = "Veil.CircuitBreaker";

    /// <summary>Cluster metadata key holding the API's <see cref="RetryPolicy"/> as protobuf JSON.</summary>
    public const string RetryKey = "Veil.Retry";

    /// <summary><paramref name="cluster"/> with the policies <paramref name="policies"/> sets in its metadata.</summary>
    public static ClusterConfig Apply(ClusterConfig cluster, ApiPolicies? policies)
    {
        if (policies is null || (policies.CircuitBreaker is null && policies.Retry is null))
        {
            return cluster;
        }
        var metadata = cluster.Metadata is { } existing
            ? new Dictionary<string, string>(existing, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        if (policies.CircuitBreaker is { } breaker)
        {
            metadata[CircuitBreakerKey] = JsonFormatter.Default.Format(breaker);
        }
        if (policies.Retry is { } retry)
        {
            metadata[RetryKey] = JsonFormatter.Default.Format(retry);
        }
        return cluster with { Metadata = metadata };
    }
}
