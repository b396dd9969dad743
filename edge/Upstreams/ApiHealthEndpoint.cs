using System.Globalization;
using Microsoft.Extensions.Options;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// <c>GET /v1/apis/{api_id}/health</c>, served by the edge itself (the state lives here, not in
/// catalog): for the API's owner and admins, each target's state on this edge and its last probe.
/// The caller's Veil access token is validated here (<see cref="VeilAccessTokens"/>); anyone else,
/// and an API this edge does not route, gets the same 404 as catalog's.
/// </summary>
internal static class ApiHealthEndpoint
{
    /// <summary>The path, as the docs name it (tests/Veil.Docs.Tests reads it: the edge, not a proto, serves it).</summary>
    public const string Template = "/v1/apis/{api_id}/health";

    public static async Task HandleAsync(HttpContext context)
    {
        var services = context.RequestServices;
        context.Response.Headers.CacheControl = "no-store";
        var caller = await services.GetRequiredService<VeilAccessTokens>()
            .ValidateAsync(context.Request.Headers.Authorization, context.RequestAborted);
        if (caller is null)
        {
            await Problems.WriteAsync(context, Problems.SignInRequired);
            return;
        }
        var apiId = context.Request.RouteValues["api_id"] as string ?? "";
        var proxy = services.GetRequiredService<IProxyStateLookup>();
        // Only providers own APIs: for anyone else (but admins) every API is someone else's, as in catalog.
        if ((!caller.IsAdmin && caller.Role != VeilClaims.Roles.Provider) ||
            !proxy.TryGetRoute(ApiRoute.RouteIdOf(apiId), out var route) ||
            route.Config.Metadata?.GetValueOrDefault(ApiRoute.ApiIdKey) != apiId ||
            (!caller.IsAdmin && route.Config.Metadata?.GetValueOrDefault(ApiRoute.ProviderIdKey) != caller.AccountId) ||
            route.Cluster is not { } cluster)
        {
            await Problems.WriteAsync(context, Problems.ApiNotFound);
            return;
        }

        var policy = services.GetRequiredService<ThresholdHealthPolicy>();
        var config = cluster.Model.Config;
        var active = config.HealthCheck?.Active is { Enabled: true } check ? check : null;
        var (healthy, unhealthy) = ApiUpstreams.Thresholds(config);
        var available = cluster.DestinationsState.AvailableDestinations;
        var targets = cluster.Destinations.Values
            .OrderBy(d => d.DestinationId.Length).ThenBy(d => d.DestinationId, StringComparer.Ordinal)
            .Select(d =>
            {
                var probes = policy.Find(d);
                return new ApiHealthTarget(
                    d.DestinationId,
                    d.Model.Config.Address,
                    WeightedRotation.WeightOf(d),
                    active is null ? "unknown" : StateName(d.Health.Active),
                    available.Contains(d),
                    probes?.LastProbeTime,
                    probes?.LastProbeTime is null ? null : probes.LastStatusCode is >= 200 and <= 299 ? "success" : "failure",
                    probes?.LastStatusCode,
                    probes?.LastError,
                    probes?.ConsecutiveSuccesses ?? 0,
                    probes?.ConsecutiveFailures ?? 0);
            })
            .ToList();
        var edgeId = services.GetRequiredService<IOptions<EdgeOptions>>().Value.EdgeId ?? Environment.MachineName;
        var body = new ApiHealth(apiId, edgeId,
            active is null ? null : new ApiHealthCheck(active.Path ?? "", Ms(active.Interval ?? ApiUpstreams.DefaultInterval),
                Ms(active.Timeout ?? ApiUpstreams.DefaultTimeout), healthy, unhealthy),
            targets);
        await TypedResults.Ok(body).ExecuteAsync(context);
    }

    private static string StateName(DestinationHealth state) => state switch
    {
        DestinationHealth.Healthy => "healthy",
        DestinationHealth.Unhealthy => "unhealthy",
        _ => "unknown",
    };

    private static int Ms(TimeSpan span) => (int)span.TotalMilliseconds;
}
