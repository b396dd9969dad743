using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Veil.RateLimit.Data;

/// <summary>Readiness: Redis answers PING within <see cref="VeilRedisSettings.HealthCheckTimeout"/>.</summary>
internal sealed class RedisHealthCheck(RedisConnection connection, IOptions<VeilRedisSettings> settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var database = connection.TryGet()?.GetDatabase();
        if (database is null)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The Redis connection is still being established.");
        }
        try
        {
            var latency = await database.PingAsync().WaitAsync(settings.Value.HealthCheckTimeout, cancellationToken);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:0.###} ms");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "Redis does not answer PING.", ex);
        }
    }
}
