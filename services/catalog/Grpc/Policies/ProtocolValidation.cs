using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>The upstream protocols the edge speaks.</summary>
    public static readonly string[] Protocols = ["http1", "http2", "grpc"];

    /// <summary>policies.protocol: empty (http1) or one of <see cref="Protocols"/>.</summary>
    public static void Protocol(FieldViolations errors, string protocol, string field)
    {
        if (protocol.Length > 0 && !Protocols.Contains(protocol, StringComparer.Ordinal))
        {
            errors.Add(field, $"Must be one of {string.Join(", ", Protocols.Select(p => '"' + p + '"'))} (empty means \"http1\").");
        }
    }
}
