using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The rules of policies.breaker (docs/policies.md).</summary>
    public static void CircuitBreaker(FieldViolations errors, CircuitBreakerPolicy breaker, string field)
    {
    }
}
