using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Dependencies;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.ServiceDiscovery;

namespace Veil.Edge.Routing;

/// <summary>Composition of routing: the route table catalog's watch fills, and service discovery for the management routes only.</summary>
internal static class RoutingExtensions
{
    /// <summary>
    /// Registers the route table (YARP's config provider: management routes, plus API routes from
    /// catalog's <c>WatchGatewayConfig</c> on <c>http://_grpc.catalog</c>), its watcher and health
    /// check, and service discovery limited to the management clusters.
    /// </summary>
    public static IReverseProxyBuilder AddEdgeRouting(this IReverseProxyBuilder proxy)
    {
        var services = proxy.Services;
        services.AddSingleton<UpstreamPolicies>();
        services.AddSingleton<GatewayRouteTable>();
        services.AddSingleton<IConfigChangeListener>(sp => sp.GetRequiredService<GatewayRouteTable>());
        services.AddHostedService<GatewayConfigWatcher>();
        services.AddHealthChecks().AddCheck<GatewayConfigHealthCheck>("gateway-config", tags: ["ready"]);
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<GatewayRouteTable>().Provider);
        proxy.AddServiceDiscoveryDestinationResolver();
        LimitDiscoveryToManagementRoutes(services);
        services.AddVeilGrpcClient<CatalogService.CatalogServiceClient>("catalog")
            .ConfigurePrimaryHttpMessageHandler(DependencyChannels.WatchHandler);
        return proxy;
    }

    private static void LimitDiscoveryToManagementRoutes(IServiceCollection services)
    {
        var discovery = services.LastOrDefault(d => d.ServiceType == typeof(IDestinationResolver))
            ?? throw new InvalidOperationException("AddServiceDiscoveryDestinationResolver registered no IDestinationResolver.");
        services.Remove(discovery);
        services.AddSingleton<IDestinationResolver>(sp => new ManagementDestinationResolver(discovery switch
        {
            { ImplementationInstance: IDestinationResolver instance } => instance,
            { ImplementationFactory: { } factory } => (IDestinationResolver)factory(sp),
            { ImplementationType: { } type } => (IDestinationResolver)ActivatorUtilities.CreateInstance(sp, type),
            _ => throw new InvalidOperationException("Unexpected IDestinationResolver registration."),
        }));
    }
}
