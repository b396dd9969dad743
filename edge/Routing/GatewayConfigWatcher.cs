using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;

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
    ILogger<GatewayConfigWatcher> logger) : BackgroundService
{
    private readonly EdgeOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var edgeId = _options.EdgeId ?? $"{Environment.MachineName}-{Environment.ProcessId}";
        EdgeLog.WatchStarted(logger, edgeId);
        var backoff = _options.WatchBackoffInitial;
        var everConnected = false;
        var reportedDown = false;

        while (!stoppingToken.IsCancellationRequested)
        {
            StatusCode status;
            Exception? error = null;
            try
            {
                // A watch lives as long as the connection; no deadline. A dead peer is noticed by
                // HTTP/2 keep-alive pings on the channel (see AddEdgeServices), not by a timer here.
                using var call = catalog.WatchGatewayConfig(new WatchGatewayConfigRequest { EdgeId = edgeId }, cancellationToken: stoppingToken);
                await foreach (var config in call.ResponseStream.ReadAllAsync(stoppingToken))
                {
                    if (!table.WatchConnected)
                    {
                        table.WatchConnected = true;
                        everConnected = true;
                        reportedDown = false;
                        EdgeLog.WatchConnected(logger, config.Revision);
                    }
                    backoff = _options.WatchBackoffInitial;
                    table.Apply(config);
                }
                status = StatusCode.Unavailable; // the server ended the stream (e.g. catalog shutting down)
            }
            catch (Exception ex) when (Stopping.Cancelled(ex, stoppingToken))
            {
                return;
            }
            catch (RpcException ex) when (!stoppingToken.IsCancellationRequested)
            {
                status = ex.StatusCode;
                error = ex;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Never let the watch die: a bug in one snapshot must not stop later updates.
                status = StatusCode.Internal;
                error = ex;
            }

            table.WatchConnected = false;
            if (!reportedDown)
            {
                reportedDown = true;
                if (everConnected)
                {
                    EdgeLog.WatchLost(logger, status, table.ServedRevision, table.ServedApiRouteCount, error);
                }
                else
                {
                    EdgeLog.WatchUnavailableAtStart(logger, status, error);
                }
            }

            // Jitter keeps a fleet of edges from reconnecting in lockstep after a catalog restart.
            var delay = backoff / 2 + TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * backoff.TotalMilliseconds / 2);
            EdgeLog.WatchRetry(logger, status, delay);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.WatchBackoffMax.Ticks));
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
