using Microsoft.Extensions.Options;
using Veil.Billing.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// The periodic work: draft sync (<see cref="DraftSync"/>, with idle drafts and finalisation) every
/// <see cref="BillingOptions.DraftRefreshInterval"/> starting at once, <see cref="Reconciliation"/> every
/// <see cref="BillingOptions.ReconciliationInterval"/> starting one interval after start; the
/// <see cref="JobGate"/> runs one at a time. Waits go through <see cref="TimeProvider"/>, so a test clock drives
/// them. A failing tick is logged and the loop goes on; nothing here ever stops the process.
/// </summary>
public sealed class BillingJobs(DraftSync drafts, Reconciliation reconciliation, BillingStore store, TimeProvider time, IOptionsMonitor<BillingOptions> options,
    BillingMetrics metrics, ILogger<BillingJobs> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interrupted = await store.FailInterruptedRunsAsync(time.GetUtcNow().ToUnixTimeMilliseconds(), stoppingToken);
        if (interrupted > 0)
        {
            BillingLog.InterruptedRuns(logger, interrupted);
        }
        await Task.WhenAll(
            LoopAsync("sync", o => o.DraftRefreshInterval, drafts.SyncAsync, immediately: true, stoppingToken),
            LoopAsync("reconcile", o => o.ReconciliationInterval, ct => reconciliation.RunAsync(manual: false, BillingStore.SystemActor, ct),
                immediately: false, stoppingToken));
    }

    private async Task LoopAsync(string job, Func<BillingOptions, TimeSpan> interval, Func<CancellationToken, Task> work, bool immediately,
        CancellationToken stoppingToken)
    {
        try
        {
            if (!immediately)
            {
                await Task.Delay(interval(options.CurrentValue), time, stoppingToken);
            }
            while (true)
            {
                try
                {
                    await work(stoppingToken);
                    metrics.JobCompleted(job, time.GetUtcNow());
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    metrics.Failed(job, "unexpected");
                    BillingLog.JobFailed(logger, job, ex);
                }
                await Task.Delay(interval(options.CurrentValue), time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
