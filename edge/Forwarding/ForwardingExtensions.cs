using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Forwarding;

/// <summary>Composition of forwarding: the transforms and the upstream client with its SSRF guard.</summary>
internal static class ForwardingExtensions
{
    /// <summary>
    /// Adds the edge's request and response transforms and its upstream client, which guards every
    /// cluster's connections except those <paramref name="isFleetCluster"/> names (the fleet's own
    /// services, on private addresses by design).
    /// </summary>
    public static IReverseProxyBuilder AddEdgeForwarding(this IReverseProxyBuilder proxy, Func<string, bool> isFleetCluster)
    {
        proxy.AddTransforms<EdgeTransformProvider>();
        proxy.Services.TryAddSingleton<IHostResolver>(DnsHostResolver.Instance);
        proxy.Services.AddSingleton<IForwarderHttpClientFactory>(sp =>
            ActivatorUtilities.CreateInstance<EdgeForwarderHttpClientFactory>(sp, isFleetCluster));
        return proxy;
    }
}
