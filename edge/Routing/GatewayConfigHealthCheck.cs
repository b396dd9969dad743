using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Veil.Edge.Routing;

/// <summary>
/// Readiness: the edge holds a route snapshot from catalog. Unhealthy (HTTP 503 on <c>/health</c>)
/// until the first one is applied, so no traffic reaches an edge that would answer 404 for every
/// API; healthy from then on, also while the catalog watch is lost, because the edge keeps
/// serving its last good routes (docs/edge.md "Failure behaviour", docs/operations.md "Readiness").
/// Liveness (<c>/alive</c>) does not include it.
/// </summary>
internal sealed class GatewayConfigHealthCheck(GatewayRouteTable table) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(table.ServedRevision >= 0
            ? HealthCheckResult.Healthy($"Serving gateway config revision {table.ServedRevision}.")
            : HealthCheckResult.Unhealthy("No gateway config from catalog yet: not ready (serving management routes only)."));
}
