using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The rules of policies.cors (docs/policies.md).</summary>
    public static void Cors(FieldViolations errors, CorsPolicy cors, string field)
    {
    }
}
