using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Billing.Data;
using Veil.ServiceDefaults.Data;

namespace Veil.Billing.Invoicing;

/// <summary>
/// Reconciliation: a recount of every cycle in the <see cref="BillingOptions.ReconciliationLookback"/>
/// window from the raw events. Drafts are updated (and finalised when due), finalised invoices whose
/// recount differs get an adjustment (<see cref="BillingStore.ApplyAsync"/>), and the run is
/// recorded. Scheduled by <see cref="BillingJobs"/>, or asked for by a billing manager
/// (<c>RunReconciliation</c>); either way under the <see cref="JobGate"/>.
/// </summary>
/// <param name="usageCycles">
/// Called once per run rather than held: <see cref="UsageCycles"/> is transient like the typed gRPC
/// client it wraps, so the client factory can rotate its handler (see Extensions.cs).
/// </param>
public sealed class Reconciliation(BillingStore store, Func<UsageCycles> usageCycles, CyclePricer pricer, BatchReport report, JobGate gate,
    TimeProvider time, IOptionsMonitor<BillingOptions> options, BillingMetrics metrics, ILogger<Reconciliation> logger)
{
    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Recounts every open and recently ended cycle from the raw events and records the run.</summary>
    public Task<RunRecord> RunAsync(bool manual, string requestedBy, CancellationToken cancellationToken) =>
        gate.RunAsync(ct => RunCoreAsync(manual, requestedBy, ct), cancellationToken);

    private async Task<RunRecord> RunCoreAsync(bool manual, string requestedBy, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue;
        var now = Now;
        var dueBy = now - (long)o.FinalizationGrace.TotalMilliseconds;
        var windowStart = now - (long)o.ReconciliationLookback.TotalMilliseconds;
        var runId = ResourceIds.New("rec");
        var stopwatch = Stopwatch.StartNew();
        await store.StartRunAsync(runId, manual ? 2 : 1, requestedBy, now, windowStart, cancellationToken);

        int @checked = 0, differences = 0, adjustments = 0;
        var error = "";
        try
        {
            var usage = usageCycles();
            await foreach (var page in usage.PagesAsync(null, windowStart, null, recount: true, null, cancellationToken))
            {
                var (priced, blocked) = await pricer.PriceAsync(page, "reconcile", cancellationToken);
                if (blocked != long.MaxValue && error.Length == 0)
                {
                    error = "Subscriptions did not answer GetCycleTerms for some new cycles; they are left for the next run.";
                }
                var result = await store.ApplyAsync(priced, CountSource.Recount, now, dueBy, runId, cancellationToken);
                @checked += result.Checked + result.Created;
                differences += result.Differences;
                adjustments += result.Adjustments.Count;
                report.Applied(result, "reconcile");
            }
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("reconcile", "usage_unavailable");
            BillingLog.UsageUnavailable(logger, "reconciliation", ex.StatusCode, ex);
            error = $"Usage did not answer ListCycleUsage ({ex.StatusCode}); the next run checks every cycle again.";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            error = "Stopped: the billing process is shutting down.";
        }

        var succeeded = error.Length == 0;
        // Recorded even when the caller's token is cancelled: a run never stays "running".
        await store.FinishRunAsync(runId, succeeded, Now, @checked, differences, adjustments, error, CancellationToken.None);
        metrics.ReconciliationRun(succeeded, differences, stopwatch.Elapsed);
        if (succeeded)
        {
            BillingLog.ReconciliationFinished(logger, runId, @checked, differences, adjustments);
        }
        else
        {
            BillingLog.ReconciliationFailed(logger, runId, @checked, error);
        }
        cancellationToken.ThrowIfCancellationRequested();
        return (await store.ListRunsAsync(runId, 1, null, cancellationToken)).Single();
    }
}
