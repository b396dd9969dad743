using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Veil.Edge.Routing;

/// <summary>Ready once a catalog config is served; degraded (still serving management routes) before.</summary>
internal sealed class GatewayConfigHealthCheck(GatewayRouteTable table) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(table.ServedRevision >= 0
            ? HealthCheckResult.Healthy($"Serving gateway config revision {table.ServedRevision}.")
            : HealthCheckResult.Degraded("No gateway config from catalog yet; serving management routes only."));
}
