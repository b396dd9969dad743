using Grpc.Core;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.ServiceDefaults.Retry;
using Veil.Usage.V1;

namespace Veil.Edge.Metering;

/// <summary>
/// Sends the spool's oldest events to usage in batches (<c>IngestEvents</c>, with a deadline) and
/// deletes them only after usage acknowledged them. IngestEvents is idempotent by event id, so a
/// batch whose answer was lost is simply sent again: at-least-once delivery, exactly-once counting.
/// Failures back off exponentially up to <see cref="EdgeUsageOptions.ShipBackoffMax"/>; nothing is
/// ever deleted unacknowledged, so a usage outage only grows the spool.
/// </summary>
internal sealed class UsageShipper(UsageSpool spool, UsageIngestClient usage, UsageMetrics metrics,
    IOptions<EdgeUsageOptions> options, TimeProvider time, ILogger<UsageShipper> logger)
{
    private readonly EdgeUsageOptions _options = options.Value;

    /// <summary>Ships until <paramref name="stopping"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            int shipped;
            try
            {
                shipped = await ShipOnceAsync(stopping);
            }
            catch (Exception ex) when (Stopping.Cancelled(ex, stopping))
            {
                // Stopping: the batch stays spooled; the stop's last attempt (DrainAsync) or the next start ships it.
                return;
            }
            catch (Exception ex) when (ex is RpcException or SqliteException)
            {
                failures++;
                metrics.ShipFailed();
                var delay = new Backoff(_options.ShipBackoffInitial, _options.ShipBackoffMax).Delay(failures);
                UsageLog.ShipFailed(logger, _options.ShipBatchSize, ex is RpcException rpc ? rpc.StatusCode.ToString() : "spool error", spool.Depth, delay);
                try
                {
                    await Task.Delay(delay, time, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            if (failures > 0)
            {
                UsageLog.ShipResumed(logger, failures);
                failures = 0;
            }
            if (shipped < _options.ShipBatchSize)
            {
                // Caught up: wait for the writer's next commit (or a second, as a safety net), then
                // let ShipInterval's worth of groups gather unless a full batch is already spooled:
                // usage pays per commit far more than per event, so fewer, larger batches cost it
                // much less CPU per event (docs/usage-and-billing.md).
                try
                {
                    await spool.WaitForCommitAsync(TimeSpan.FromSeconds(1), stopping);
                    if (spool.Depth < _options.ShipBatchSize && _options.ShipInterval > TimeSpan.Zero)
                    {
                        await Task.Delay(_options.ShipInterval, time, stopping);
                    }
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Ships what is spooled until the spool is empty or <paramref name="bound"/> passes (graceful stop).</summary>
    public async Task DrainAsync(TimeSpan bound, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(bound);
        try
        {
            while (spool.Depth > 0 && await ShipOnceAsync(cts.Token) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is RpcException or SqliteException or OperationCanceledException)
        {
            // What is left ships after the next start.
        }
    }

    /// <summary>Sends one batch of the oldest events; returns how many were acknowledged and deleted.</summary>
    public async Task<int> ShipOnceAsync(CancellationToken cancellationToken)
    {
        var batch = spool.ReadOldest(_options.ShipBatchSize);
        if (batch.Events == 0)
        {
            return 0;
        }
        var response = await usage.IngestAsync(batch, DateTime.UtcNow + _options.ShipTimeout, cancellationToken).ResponseAsync.ConfigureAwait(false);
        // Every event is accepted, a duplicate or quarantined: fewer means usage did not read some
        // of them (a service from before grouped events skips `groups` as an unknown field), and
        // deleting the batch would lose them.
        var acknowledged = response.Accepted + response.Duplicates + response.Quarantined;
        if (acknowledged != batch.Events)
        {
            UsageLog.ShipIncomplete(logger, acknowledged, batch.Events);
            throw new RpcException(new Status(StatusCode.DataLoss, $"usage acknowledged {acknowledged} of {batch.Events} events"));
        }
        batch.ReturnBuffers();
        spool.DeleteThrough(batch.LastSeq, batch.Events);
        metrics.Shipped(batch.Events);
        if (response.Quarantined > 0)
        {
            UsageLog.EventsQuarantined(logger, response.Quarantined);
        }
        return batch.Events;
    }
}
