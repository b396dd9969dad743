using Google.Protobuf;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Configuration;

namespace Veil.Edge.Resilience;

/// <summary>An API's circuit-breaker parameters with the proto's defaults applied (docs/resilience.md).</summary>
internal sealed record BreakerSettings(bool Enabled, double FailureRatio, int MinimumRequests, long WindowMs, long OpenMs,
    int HalfOpenProbes, long BackoffInitialMs, long BackoffMaxMs)
{
    public static readonly BreakerSettings Default = From(new CircuitBreakerPolicy());

    public static BreakerSettings From(CircuitBreakerPolicy policy) => new(
        !policy.HasEnabled || policy.Enabled,
        policy.FailureRatio > 0 ? policy.FailureRatio : 0.5,
        policy.MinimumRequests > 0 ? policy.MinimumRequests : 100,
        policy.WindowMs > 0 ? policy.WindowMs : 60_000,
        policy.OpenMs > 0 ? policy.OpenMs : 30_000,
        policy.HalfOpenProbes > 0 ? policy.HalfOpenProbes : 1,
        policy.BackoffInitialMs > 0 ? policy.BackoffInitialMs : 1_000,
        policy.BackoffMaxMs > 0 ? policy.BackoffMaxMs : 30_000);

    /// <summary>
    /// How long the <paramref name="opening"/>-th consecutive opening lasts: <see cref="OpenMs"/>,
    /// plus from the second on (a half-open probe failed) a back-off from <see cref="BackoffInitialMs"/>
    /// doubling up to <see cref="BackoffMaxMs"/>.
    /// </summary>
    public long OpenFor(int opening)
    {
        if (opening <= 1)
        {
            return OpenMs;
        }
        var backoff = BackoffInitialMs;
        for (var i = 2; i < opening && backoff < BackoffMaxMs; i++)
        {
            backoff *= 2;
        }
        return OpenMs + Math.Min(backoff, BackoffMaxMs);
    }
}

/// <summary>An API's retry parameters with the proto's defaults applied (docs/resilience.md).</summary>
internal sealed record RetrySettings(bool Enabled, int MaxRetries, double BudgetRatio)
{
    public static readonly RetrySettings Default = From(new RetryPolicy());

    public static RetrySettings From(RetryPolicy policy)
    {
        var maxRetries = policy.HasMaxRetries ? Math.Clamp(policy.MaxRetries, 0, 2) : 1;
        var ratio = policy.HasBudgetRatio ? Math.Clamp(policy.BudgetRatio, 0, 1) : 0.1;
        // Nothing to retry with: off, so the call costs nothing more.
        return new((!policy.HasEnabled || policy.Enabled) && maxRetries > 0 && ratio > 0, maxRetries, ratio);
    }
}

/// <summary>Reads the policies routing left in the cluster's metadata (<see cref="ResiliencePolicies"/>).</summary>
internal static class ResilienceSettings
{
    public static (BreakerSettings Breaker, RetrySettings Retry) Read(ClusterConfig cluster)
    {
        var metadata = cluster.Metadata;
        var breaker = metadata?.GetValueOrDefault(ResiliencePolicies.CircuitBreakerKey) is { } breakerJson
            ? BreakerSettings.From(JsonParser.Default.Parse<CircuitBreakerPolicy>(breakerJson))
            : BreakerSettings.Default;
        var retry = metadata?.GetValueOrDefault(ResiliencePolicies.RetryKey) is { } retryJson
            ? RetrySettings.From(JsonParser.Default.Parse<RetryPolicy>(retryJson))
            : RetrySettings.Default;
        return (breaker, retry);
    }
}
