using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace Veil.Edge.Upstreams;

/// <summary>
/// Composition of the upstream step: weighted round robin, the thresholds health policy, their
/// metrics, and the edge-served <c>GET /v1/apis/{api_id}/health</c>.
/// </summary>
internal static class UpstreamsExtensions
{
    /// <summary>Registers the load-balancing and active health policies routing names in API clusters.</summary>
    public static IReverseProxyBuilder AddEdgeUpstreams(this IReverseProxyBuilder proxy)
    {
        var services = proxy.Services;
        services.AddSingleton<ILoadBalancingPolicy, WeightedRoundRobinPolicy>();
        services.AddSingleton<UpstreamMetrics>();
        services.AddSingleton<ThresholdHealthPolicy>();
        services.AddSingleton<IActiveHealthCheckPolicy>(sp => sp.GetRequiredService<ThresholdHealthPolicy>());
        services.AddSingleton<VeilAccessTokens>();
        return proxy;
    }

    /// <summary>
    /// Maps <c>GET /v1/apis/{api_id}/health</c> with <paramref name="order"/>, which must come
    /// before the management route that sends <c>/v1/apis/…</c> to catalog.
    /// </summary>
    public static IEndpointConventionBuilder MapApiHealth(this IEndpointRouteBuilder endpoints, int order) =>
        endpoints.MapGet(ApiHealthEndpoint.Template, ApiHealthEndpoint.HandleAsync)
            .WithOrder(order)
            .WithDisplayName("API health");
}
