using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Veil.Edge.Dependencies;

/// <summary>
/// Healthy while both invalidation streams are connected; degraded (still serving, revocations then
/// take up to the cache TTL) while either is down.
/// </summary>
internal sealed class AuthChangeHealthCheck(AuthChangeStreams streams, IOptions<EdgeOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var down = streams.All.Where(s => !s.Connected).Select(s => s.Service).ToArray();
        return Task.FromResult(down.Length == 0
            ? HealthCheckResult.Healthy("Revocations and cancellations are pushed by identity and subscriptions.")
            : HealthCheckResult.Degraded(
                $"No change stream from {string.Join(" and ", down)}; revocations and cancellations take up to {options.Value.AuthCacheTtl} (the cache TTL)."));
    }
}
