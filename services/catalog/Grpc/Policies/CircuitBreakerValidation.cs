using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>
    /// policies.circuit_breaker (docs/resilience.md): each field 0 (its default) or within its
    /// range; the back-off cap at least the first back-off.
    /// </summary>
    public static void CircuitBreaker(FieldViolations errors, CircuitBreakerPolicy breaker, string field)
    {
        // NaN fails both comparisons, so it is refused with the message.
        if (!(breaker.FailureRatio >= 0 && breaker.FailureRatio <= 1))
        {
            errors.Add(field + ".failure_ratio", "Must be over 0 and at most 1, e.g. 0.5 (0 means 0.5).");
        }
        BreakerField(errors, breaker.MinimumRequests, 1, 100_000, 100, field + ".minimum_requests");
        BreakerField(errors, breaker.WindowMs, 1_000, 600_000, 60_000, field + ".window_ms");
        BreakerField(errors, breaker.OpenMs, 1_000, 600_000, 30_000, field + ".open_ms");
        BreakerField(errors, breaker.HalfOpenProbes, 1, 100, 1, field + ".half_open_probes");
        var initialOk = BreakerField(errors, breaker.BackoffInitialMs, 100, 60_000, 1_000, field + ".backoff_initial_ms");
        if (BreakerField(errors, breaker.BackoffMaxMs, 100, 600_000, 30_000, field + ".backoff_max_ms") && initialOk)
        {
            var initial = breaker.BackoffInitialMs == 0 ? 1_000 : breaker.BackoffInitialMs;
            var max = breaker.BackoffMaxMs == 0 ? 30_000 : breaker.BackoffMaxMs;
            if (max < initial)
            {
                errors.Add(field + ".backoff_max_ms", $"Must be at least backoff_initial_ms ({initial}).");
            }
        }
    }

    /// <summary>A field whose 0 means <paramref name="zeroMeans"/>: 0 or <paramref name="min"/> to <paramref name="max"/>.</summary>
    private static bool BreakerField(FieldViolations errors, int value, int min, int max, int zeroMeans, string field)
    {
        if (value == 0 || (value >= min && value <= max))
        {
            return true;
        }
        errors.Add(field, $"Must be {min} to {max} (0 means {zeroMeans}).");
        return false;
    }
}
