using Grpc.Core;
using Veil.Catalog.Data;
using Veil.Catalog.Edges;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

/// <summary>
/// The gateway config stream, both ways: the catalog sends every snapshot, the edge reports what
/// it serves (<see cref="EdgeReports"/>), so GetApi can tell an owner which edges serve which version.
/// </summary>
public sealed partial class CatalogGrpcService
{
    /// <summary>How long a new stream may take to name its edge before the catalog ends it.</summary>
    private static readonly TimeSpan FirstReportTimeout = TimeSpan.FromSeconds(10);

    public override async Task WatchGatewayConfig(IAsyncStreamReader<WatchGatewayConfigRequest> requestStream,
        IServerStreamWriter<GatewayConfig> responseStream, ServerCallContext context)
    {
        // Internal: no google.api.http binding, so only the gRPC port serves it (mesh policy admits the edge only).
        // Ending the stream on shutdown lets the host stop now instead of waiting for edges to hang up.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _lifetime.ApplicationStopping);
        using var reports = _edges.Open();
        string edgeId;
        using (var first = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
        {
            first.CancelAfter(FirstReportTimeout);
            try
            {
                if (!await requestStream.MoveNext(first.Token))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException || ex is RpcException { StatusCode: StatusCode.Cancelled })
            {
                if (!stop.IsCancellationRequested)
                {
                    CatalogLog.WatcherSilent(_logger, FirstReportTimeout);
                    throw RpcErrors.InvalidArgument("edge_id", $"Send a first report naming the edge (edge_id) within {FirstReportTimeout.TotalSeconds:0} s.");
                }
                return;
            }
            edgeId = EdgeName(requestStream.Current.EdgeId);
            Report(reports, requestStream.Current, edgeId);
        }

        var sent = -1L;
        _metrics.WatcherConnected();
        CatalogLog.WatcherConnected(_logger, edgeId);
        // The edge's reports are read beside the writes; the stream lives as long as both sides do.
        var reading = ReadReportsAsync(requestStream, reports, edgeId, stop);
        try
        {
            while (true)
            {
                var config = await _feed.WaitNewerThanAsync(sent, stop.Token);
                await responseStream.WriteAsync(config, stop.Token);
                sent = config.Revision;
                CatalogLog.ConfigSent(_logger, edgeId, config.Revision, config.Routes.Count);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The edge hung up or the catalog is stopping: a normal end of the stream.
        }
        catch (IOException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The connection went away mid-write.
        }
        finally
        {
            await stop.CancelAsync();
            await reading;
            _metrics.WatcherDisconnected();
            CatalogLog.WatcherDisconnected(_logger, edgeId, sent);
        }
    }

    /// <summary>Which live edges serve which version of <paramref name="api"/>.</summary>
    private ApiDeployment Deployment(ApiRecord api)
    {
        var deployment = new ApiDeployment();
        deployment.Edges.AddRange(_edges.Deployment(api.Id));
        deployment.InSync = deployment.Edges.Count > 0 && deployment.Edges.All(e => e.ServedVersion == api.CurrentVersion);
        return deployment;
    }

    /// <summary>Applies the edge's reports until it ends its side or the stream stops; ending its side ends the stream.</summary>
    private async Task ReadReportsAsync(IAsyncStreamReader<WatchGatewayConfigRequest> requestStream, EdgeReports.Stream reports,
        string edgeId, CancellationTokenSource stop)
    {
        try
        {
            while (await requestStream.MoveNext(stop.Token))
            {
                Report(reports, requestStream.Current, edgeId);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException || ex is RpcException { StatusCode: StatusCode.Cancelled })
        {
            // The stream is ending.
        }
        await stop.CancelAsync();
    }

    private void Report(EdgeReports.Stream reports, WatchGatewayConfigRequest report, string edgeId)
    {
        reports.Report(report, edgeId);
        CatalogLog.EdgeReported(_logger, edgeId, report.ServedRevision, report.Routes.Count, report.Full);
    }

    private static string EdgeName(string edgeId) =>
        string.IsNullOrWhiteSpace(edgeId) ? "(unnamed)" : edgeId.Length > 100 ? edgeId[..100] : edgeId;
}
