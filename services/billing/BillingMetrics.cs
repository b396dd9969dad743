using System.Diagnostics.Metrics;

namespace Veil.Billing;

/// <summary>The <c>Veil.Billing</c> meter. Counts and outcomes only: amounts live in the audit log, not in metrics.</summary>
public sealed class BillingMetrics
{
    public const string MeterName = "Veil.Billing";

    private readonly Counter<long> _finalized;
    private readonly Counter<long> _draftsChanged;
    private readonly Counter<long> _adjustments;
    private readonly Counter<long> _runs;
    private readonly Counter<long> _differences;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _holdChecks;
    private readonly Histogram<double> _runDuration;
    // Unix ms of each periodic job's last completed tick, by job (sync, reconcile); read at collection time.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _lastCompleted = new();

    public BillingMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _finalized = meter.CreateCounter<long>("veil.billing.invoices_finalized", description: "Invoices finalised.");
        _draftsChanged = meter.CreateCounter<long>("veil.billing.drafts_changed", description: "Draft invoices created or changed by a refresh.");
        _adjustments = meter.CreateCounter<long>("veil.billing.adjustments", description: "Adjustments written, by source (manual, reconciliation).");
        _runs = meter.CreateCounter<long>("veil.billing.reconciliation_runs", description: "Reconciliation runs, by outcome.");
        _differences = meter.CreateCounter<long>("veil.billing.reconciliation_differences", description: "Invoices whose recount differed from what they showed.");
        _failures = meter.CreateCounter<long>("veil.billing.failures", description: "Failed steps, by job and reason (usage_unavailable, subscriptions_unavailable, plan_unavailable, plan_not_found, overflow, cycle_missing, cycle_misaligned, snapshot_mismatch, unexpected).");
        _holdChecks = meter.CreateCounter<long>("veil.billing.credit_hold_checks", description: "CheckCreditHold answers, by result.");
        _runDuration = meter.CreateHistogram<double>("veil.billing.reconciliation_duration", unit: "s", description: "How long reconciliation runs take.");
        // Exported at 0 from the start, so the alerts' increase() sees the first failed run or difference
        // and the business dashboard has its finalised-invoice series before the first cycle closes.
        _runs.Add(0, new KeyValuePair<string, object?>("veil.outcome", "succeeded"));
        _runs.Add(0, new KeyValuePair<string, object?>("veil.outcome", "failed"));
        _differences.Add(0);
        _finalized.Add(0);
        meter.CreateObservableGauge("veil.billing.job.last_completed", ObserveLastCompleted, unit: "s",
            description: "Unix time of each periodic job's last completed tick, by job (sync, reconcile); absent until the job first completes.");
    }

    public void Finalized(int count = 1) => _finalized.Add(count);

    public void DraftsChanged(int count) => _draftsChanged.Add(count);

    public void AdjustmentWritten(string source) => _adjustments.Add(1, new KeyValuePair<string, object?>("veil.source", source));

    public void ReconciliationRun(bool succeeded, int differences, TimeSpan duration)
    {
        _runs.Add(1, new KeyValuePair<string, object?>("veil.outcome", succeeded ? "succeeded" : "failed"));
        _differences.Add(differences);
        _runDuration.Record(duration.TotalSeconds);
    }

    public void Failed(string job, string reason) =>
        _failures.Add(1, new KeyValuePair<string, object?>("veil.job", job), new KeyValuePair<string, object?>("veil.reason", reason));

    /// <summary>A periodic job's tick ran to its end (it may still have counted failed steps).</summary>
    public void JobCompleted(string job, DateTimeOffset at) => _lastCompleted[job] = at.ToUnixTimeMilliseconds();

    private IEnumerable<Measurement<double>> ObserveLastCompleted() =>
        _lastCompleted.Select(j => new Measurement<double>(j.Value / 1000.0, new KeyValuePair<string, object?>("veil.job", j.Key)));

    public void CreditHoldChecked(bool onHold) => _holdChecks.Add(1, new KeyValuePair<string, object?>("veil.on_hold", onHold));
}
