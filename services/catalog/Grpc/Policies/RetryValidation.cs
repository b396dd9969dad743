using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The rules of policies.retry (docs/policies.md).</summary>
    public static void Retry(FieldViolations errors, RetryPolicy retry, string field)
    {
    }
}
