using System.Threading.Channels;
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

    /// <summary>
    /// Opens the stream both ways: the snapshots come in, this edge's reports go out (what it
    /// serves, after every applied snapshot and at least every <c>Edge:ConfigReportInterval</c>).
    /// </summary>
    protected override AsyncServerStreamingCall<GatewayConfig> Open(CancellationToken cancellationToken)
    {
        var call = catalog.WatchGatewayConfig(cancellationToken: cancellationToken);
        var reporting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _ = ReportAsync(call.RequestStream, reporting.Token);
        return new AsyncServerStreamingCall<GatewayConfig>(call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, () =>
        {
            reporting.Cancel();
            call.Dispose();
            reporting.Dispose();
        });
    }

    /// <summary>
    /// Reports what the proxy serves: everything first, then what changed after each applied
    /// snapshot, and a heartbeat when nothing did. Ends with the stream; a failed write is the
    /// stream failing, which the follower notices on its read side.
    /// </summary>
    private async Task ReportAsync(IClientStreamWriter<WatchGatewayConfigRequest> requests, CancellationToken cancellationToken)
    {
        var served = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        void OnServed() => served.Writer.TryWrite(true);
        table.Served += OnServed;
        try
        {
            IReadOnlyDictionary<string, long>? reported = null;
            while (true)
            {
                var versions = table.ServedVersions;
                var report = new WatchGatewayConfigRequest { EdgeId = EdgeId, ServedRevision = table.ServedRevision, Full = reported is null };
                report.Routes.AddRange(reported is null
                    ? versions.Select(v => new ServedApiVersion { ApiId = v.Key, Version = v.Value })
                    : ServedChanges(reported, versions));
                await requests.WriteAsync(report, cancellationToken);
                reported = versions;

                using var heartbeat = new CancellationTokenSource(options.Value.ConfigReportInterval, Time);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, heartbeat.Token);
                try
                {
                    await served.Reader.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // Nothing changed within the interval: send a heartbeat.
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException or InvalidOperationException or IOException)
        {
            // The stream ended or failed; the follower reconnects and this starts over with a full report.
        }
        finally
        {
            table.Served -= OnServed;
        }
    }

    /// <summary>APIs whose served version differs from the last report; version 0 for those no longer served.</summary>
    private static IEnumerable<ServedApiVersion> ServedChanges(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after) =>
        after.Where(a => before.GetValueOrDefault(a.Key) != a.Value)
            .Select(a => new ServedApiVersion { ApiId = a.Key, Version = a.Value })
            .Concat(before.Keys.Where(id => !after.ContainsKey(id)).Select(id => new ServedApiVersion { ApiId = id }));

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
