using System.Diagnostics;
using Microsoft.Extensions.Options;
using Veil.Usage.Data;

namespace Veil.Usage;

/// <summary>What one retention run deleted: raw events, quarantined events, call-log rows.</summary>
public sealed record RetentionResult(long Events, long Quarantined, long Calls);

/// <summary>
/// Keeps <c>usage.db</c> from growing forever: every <see cref="UsageOptions.RetentionOptions.Interval"/>
/// it deletes raw events (and with them their ids, the dedup records) older than
/// <see cref="UsageOptions.RetentionOptions.RawEvents"/>, but only events the rollups already
/// include, quarantined events older than <see cref="UsageOptions.RetentionOptions.Quarantine"/>, and
/// the call log's rows (request id, path) older than <see cref="UsageOptions.RetentionOptions.CallLog"/>.
/// Rows go in steps of <see cref="UsageOptions.RetentionOptions.BatchSize"/>, each its own short
/// immediate transaction behind the store's write gate, so ingest waits for one step at most.
/// A failed run is logged and the next interval starts over; deletions are idempotent.
/// </summary>
public sealed class RetentionWorker(UsageStore store, UsageMetrics metrics, IOptions<UsageOptions> options, TimeProvider time, ILogger<RetentionWorker> logger)
    : BackgroundService
{
    /// <summary>
    /// Delay of the first run after start: long enough to let edges flush their spools first,
    /// short enough that a service restarted more often than the interval still prunes.
    /// </summary>
    public static readonly TimeSpan FirstRunDelay = TimeSpan.FromMinutes(1);

    private readonly SemaphoreSlim _running = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.Retention;
        if (!settings.Enabled)
        {
            UsageLog.RetentionDisabled(logger);
            return;
        }
        var delay = FirstRunDelay < settings.Interval ? FirstRunDelay : settings.Interval;
        while (true)
        {
            await Task.Delay(delay, time, stoppingToken);
            delay = settings.Interval;
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                metrics.RetentionRun(succeeded: false, null);
                UsageLog.RetentionFailed(logger, settings.Interval, ex);
            }
        }
    }

    /// <summary>
    /// One run, now: the call log, raw events, then quarantine, each until nothing old enough is left. Runs are
    /// serialised (a scheduled run and a caller's never overlap). Throws when a step fails; the
    /// steps committed before it stay deleted.
    /// </summary>
    public async Task<RetentionResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            var settings = options.Value.Retention;
            var started = Stopwatch.GetTimestamp();
            var now = time.GetUtcNow();
            var calls = await PruneAsync(store.PruneCallsAsync, "calls", now - settings.CallLog, settings.BatchSize, cancellationToken);
            var events = await PruneAsync(store.PruneEventsAsync, "events", now - settings.RawEvents, settings.BatchSize, cancellationToken);
            var quarantined = await PruneAsync(store.PruneQuarantineAsync, "quarantine", now - settings.Quarantine, settings.BatchSize, cancellationToken);
            metrics.RetentionRun(succeeded: true, time.GetUtcNow());
            UsageLog.RetentionCompleted(logger, events, quarantined, calls, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return new RetentionResult(events, quarantined, calls);
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<long> PruneAsync(Func<long, long, int, CancellationToken, Task<PruneStep>> step, string table,
        DateTimeOffset cutoff, int batchSize, CancellationToken cancellationToken)
    {
        long deleted = 0, after = 0;
        var cutoffMs = cutoff.ToUnixTimeMilliseconds();
        while (true)
        {
            var result = await step(after, cutoffMs, batchSize, cancellationToken);
            deleted += result.Deleted;
            metrics.RetentionDeleted(table, result.Deleted);
            if (result.Done)
            {
                return deleted;
            }
            after = result.LastId;
        }
    }

    public override void Dispose()
    {
        _running.Dispose();
        base.Dispose();
    }
}
