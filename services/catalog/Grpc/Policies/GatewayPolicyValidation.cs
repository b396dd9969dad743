using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

/// <summary>Field rules for the gateway policies (docs/policies.md), one file per part.</summary>
internal static partial class ApiValidation
{
    /// <summary>
    /// Checks each part <paramref name="policies"/> sets; <paramref name="field"/> prefixes the
    /// field names ("policies"). A bad policy is refused here, never accepted and broken at the edge.
    /// </summary>
    public static void Policies(FieldViolations errors, ApiPolicies? policies, string field, bool allowPrivateUpstreams)
    {
        if (policies is null)
        {
            return;
        }
        if (policies.Targets is { } targets)
        {
            Targets(errors, targets, field + ".targets", allowPrivateUpstreams);
        }
        if (policies.HealthCheck is { } health)
        {
            HealthCheck(errors, health, field + ".health_check");
        }
        if (policies.CircuitBreaker is { } breaker)
        {
            CircuitBreaker(errors, breaker, field + ".circuit_breaker");
        }
        if (policies.Retry is { } retry)
        {
            Retry(errors, retry, field + ".retry");
        }
        if (policies.HasProtocol)
        {
            Protocol(errors, policies.Protocol, field + ".protocol");
        }
        if (policies.Cors is { } cors)
        {
            Cors(errors, cors, field + ".cors");
        }
        if (policies.Transforms is { } transforms)
        {
            Transforms(errors, transforms, field + ".transforms");
        }
    }
}
