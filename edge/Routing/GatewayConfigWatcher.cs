using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;
using Veil.Edge.Dependencies;

namespace Veil.Edge.Routing;

/// <summary>
/// Follows catalog's <c>WatchGatewayConfig</c> stream and applies every snapshot to the route table,
/// so a published API is routable as soon as catalog announces it. When catalog is down the last
/// good routes stay in service and the watch reconnects with capped, jittered exponential backoff;
/// the loss and the recovery are logged once each, the retries in between only at Debug.
/// </summary>
internal sealed class GatewayConfigWatcher(
    CatalogService.CatalogServiceClient catalog,
    GatewayRouteTable table,
    IOptions<EdgeOptions> options,
    TimeProvider time,
    ILogger<GatewayConfigWatcher> logger) : StreamFollower<GatewayConfig>(options.Value, time)
{
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        EdgeLog.WatchStarted(logger, EdgeId);
        return base.StartAsync(cancellationToken);
    }

    protected override AsyncServerStreamingCall<GatewayConfig> Open(CancellationToken cancellationToken) =>
        catalog.WatchGatewayConfig(new WatchGatewayConfigRequest { EdgeId = EdgeId }, cancellationToken: cancellationToken);

    protected override void Apply(GatewayConfig message, bool first) => table.Apply(message);

    protected override void Connected(GatewayConfig message)
    {
        table.WatchConnected = true;
        EdgeLog.WatchConnected(logger, message.Revision);
    }

    protected override void Lost(StatusCode status, bool everConnected, Exception? error)
    {
        table.WatchConnected = false;
        if (everConnected)
        {
            EdgeLog.WatchLost(logger, status, table.ServedRevision, table.ServedApiRouteCount, error);
        }
        else
        {
            EdgeLog.WatchUnavailableAtStart(logger, status, error);
        }
    }

    protected override void Retrying(StatusCode status, TimeSpan delay) => EdgeLog.WatchRetry(logger, status, delay);
}
