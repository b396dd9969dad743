using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The rules of policies.transforms (docs/policies.md).</summary>
    public static void Transforms(FieldViolations errors, TransformPolicy transforms, string field)
    {
    }
}
