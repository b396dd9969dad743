using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.Grpc;

namespace Veil.Catalog.Export;

/// <summary>
/// With <c>Catalog:Export:Automatic</c>, exports every API whose current version is not in the
/// bucket yet: at start (catching up on whatever happened while the catalog or the bucket was
/// away) and after every change to the routing table. The versions table is the outbox and
/// <c>api_exports</c> the ledger, so nothing is lost on restart; a failed export is retried with
/// backoff (1 s doubling to 5 min).
/// </summary>
internal sealed class HistoryExportWorker(
    IServiceProvider services,
    CatalogStore store,
    GatewayConfigFeed feed,
    HistoryExport export,
    ExportLedger ledger,
    IOptionsMonitor<CatalogOptions> options,
    TimeProvider time,
    ILogger<HistoryExportWorker> logger) : BackgroundService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastRetry = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.CurrentValue.Export is not { Enabled: true, Automatic: true })
        {
            return;
        }
        var revision = -1L;
        var retry = FirstRetry;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Read the revision before exporting: a change committed meanwhile wakes the next wait.
                revision = (await feed.WaitNewerThanAsync(revision, stoppingToken)).Revision;
                await ExportBehindAsync(stoppingToken);
                retry = FirstRetry;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A background loop: log, back off and try again; stopping ends it above.
            catch (Exception e)
#pragma warning restore CA1031
            {
                CatalogLog.AutomaticExportFailed(logger, retry, e);
                await Task.Delay(retry, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                retry = retry * 2 > LastRetry ? LastRetry : retry * 2;
                // Try again whether or not anything changed meanwhile.
                revision = -1;
            }
        }
    }

    private async Task ExportBehindAsync(CancellationToken cancellationToken)
    {
        var behind = await ledger.BehindAsync(cancellationToken);
        if (behind.Count == 0)
        {
            return;
        }
        // The RPC's own export, so both write the same bytes (the versions as GetApiVersion shows them).
        await using var scope = services.CreateAsyncScope();
        var catalog = ActivatorUtilities.CreateInstance<CatalogGrpcService>(scope.ServiceProvider);
        foreach (var id in behind)
        {
            if (await store.FindAsync(id, cancellationToken) is not { } api)
            {
                continue;
            }
            var (_, _, written) = await catalog.ExportHistoryAsync(api, owner: null, export, ledger, cancellationToken);
            CatalogLog.HistoryExported(logger, api.Id, export.Bucket, api.CurrentVersion, written, "(automatic)");
        }
    }
}
