using Microsoft.Extensions.Diagnostics.HealthChecks;
using Veil.Usage.Data;

namespace Veil.Usage;

/// <summary>
/// Degraded when the rollups trail the raw events by more than the 5-minute promise (the roller
/// is failing or cannot keep up). Degraded, not unhealthy: ingest and quotas still work, and
/// taking the instance out of rotation would only make the backlog grow at the edges.
/// </summary>
internal sealed class RollupLagHealthCheck(UsageStore store, TimeProvider time) : IHealthCheck
{
    public static readonly TimeSpan Promise = TimeSpan.FromMinutes(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (pending, oldest) = await store.RollupLagAsync(cancellationToken);
        if (oldest is not { } received)
        {
            return HealthCheckResult.Healthy("The rollups include every stored event.");
        }
        var lag = time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(received);
        return lag <= Promise
            ? HealthCheckResult.Healthy($"{pending} events wait for the next rollup step.")
            : HealthCheckResult.Degraded($"The rollups trail by {lag:g} ({pending} events), more than the {Promise.TotalMinutes:0}-minute promise.");
    }
}
