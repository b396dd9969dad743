using Microsoft.Extensions.Options;
using Veil.Usage.Data;

namespace Veil.Usage;

/// <summary>
/// Keeps the minute, hour and day rollups up to date behind ingest: after events are committed
/// it folds everything past the watermark into the rollups, at most once per
/// <see cref="UsageOptions.RollupInterval"/>, so that under load one step covers many ingest
/// transactions and each rollup row is written once per step instead of once per batch.
/// Rollups therefore trail the raw events by about one interval (plus the step itself), far
/// inside the 5-minute promise; <c>veil.usage.rollup.lag</c> measures it.
/// </summary>
public sealed class RollupWorker(UsageStore store, UsageMetrics metrics, IOptions<UsageOptions> options, TimeProvider time, ILogger<RollupWorker> logger)
    : BackgroundService
{
    /// <summary>Events per rollup transaction; a backlog (after an outage) is worked off in steps of this size.</summary>
    public const int StepEvents = 50_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                int rolled;
                do
                {
                    (rolled, var firstReceived) = await store.RollUpAsync(StepEvents, stoppingToken);
                    if (firstReceived is { } received)
                    {
                        metrics.RolledUp(rolled, time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(received));
                    }
                }
                while (rolled == StepEvents);
                await store.WaitForNewEventsAsync(stoppingToken);
                // Pacing, not business time: a real-time pause so one step gathers many batches.
                await Task.Delay(options.Value.RollupInterval, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                UsageLog.RollupFailed(logger, ex);
                await Task.Delay(options.Value.RollupInterval, stoppingToken);
            }
        }
    }
}
