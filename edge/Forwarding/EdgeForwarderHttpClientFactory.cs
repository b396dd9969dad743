using System.Net.Http;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Forwarding;

/// <summary>
/// YARP's upstream client with a bounded connect time, so a dead upstream is a quick 502, and on
/// every cluster but the fleet's own (<paramref name="isFleetCluster"/>: the management routes'
/// clusters, as the composition says) the SSRF guard: the handler connects only to the global
/// unicast addresses the upstream's name resolves to (<see cref="GuardedConnect"/>), unless
/// <see cref="EdgeOptions.AllowPrivateUpstreams"/>.
/// </summary>
internal sealed class EdgeForwarderHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger, IOptions<EdgeOptions> options, IHostResolver resolver,
    Func<string, bool> isFleetCluster) : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = options.Value.UpstreamConnectTimeout;
        // Management clusters reach the fleet's own services, on private addresses by design; every
        // other cluster is a provider's upstream (fail closed: a new kind of cluster is guarded).
        if (!isFleetCluster(context.ClusterId))
        {
            handler.ConnectCallback = GuardedConnect.Create(resolver, options.Value.AllowPrivateUpstreams);
        }
    }
}
