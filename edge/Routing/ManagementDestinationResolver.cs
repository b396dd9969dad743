using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.ServiceDiscovery;

namespace Veil.Edge.Routing;

/// <summary>
/// Service discovery for the management clusters only. The service-discovery resolver would also
/// resolve API upstreams, so an upstream URL such as <c>http://identity</c> would reach an internal
/// service; here only destinations whose id marks them as discovery names go through it, and every
/// upstream address is used literally.
/// </summary>
internal sealed class ManagementDestinationResolver(IDestinationResolver discovery) : IDestinationResolver
{
    public ValueTask<ResolvedDestinationCollection> ResolveDestinationsAsync(
        IReadOnlyDictionary<string, DestinationConfig> destinations, CancellationToken cancellationToken)
    {
        foreach (var id in destinations.Keys)
        {
            if (id.StartsWith(ManagementRoutes.DiscoveryDestinationPrefix, StringComparison.Ordinal))
            {
                // Management clusters hold discovery destinations only (see ManagementRoutes).
                return discovery.ResolveDestinationsAsync(destinations, cancellationToken);
            }
        }
        return new(new ResolvedDestinationCollection(destinations, changeToken: null));
    }
}
