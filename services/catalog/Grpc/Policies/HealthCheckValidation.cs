using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The rules of policies.health (docs/policies.md).</summary>
    public static void HealthCheck(FieldViolations errors, HealthCheckPolicy health, string field)
    {
    }
}
