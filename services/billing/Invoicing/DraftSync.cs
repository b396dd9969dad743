using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Billing.Data;
using Veil.Usage.V1;

namespace Veil.Billing;

/// <summary>
/// Turns usage into invoices. Three entry points, serialised by one gate so that the jobs and a
/// manual reconciliation never interleave in this process (across replicas the store's
/// conditional writes inside immediate transactions keep them correct):
/// <list type="bullet">
/// <item><see cref="SyncAsync"/>: drafts from usage's counters for every cycle after the watermark,
/// drafts for the periods of every subscription that usage has no call in (from subscriptions'
/// listing), then finalisation of due drafts from a recount;</item>
/// <item><see cref="ReconcileAsync"/>: a recount of every cycle in the lookback window; drafts are
/// updated (and finalised when due), finalised invoices get adjustments, the run is recorded;</item>
/// <item><see cref="RefreshDraftAsync"/>: one draft brought up to date for a read, never failing it.</item>
/// </list>
/// </summary>
public sealed class InvoiceEngine(BillingStore store, IServiceProvider services, TimeProvider time, IOptionsMonitor<BillingOptions> options,
    BillingMetrics metrics, ILogger<InvoiceEngine> logger)
{
    private const int DueBatch = 500;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<string, byte> _mismatchLogged = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _misalignedLogged = new(StringComparer.Ordinal);

    // Draft syncs in a row whose subscriptions listing failed; only the sync (under the gate) touches it.
    private int _listingFailures;

    private long Now => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Creates and updates drafts from usage's counters, creates drafts for the periods of every
    /// subscription in which usage has no call, then finalises the drafts whose cycle ended more
    /// than the grace period ago, from a recount of their raw events. When usage does not answer,
    /// nothing moves and the next tick tries again; when subscriptions does not, the rest goes on
    /// but the watermark holds, so no period without usage is passed over.
    /// </summary>
    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await SyncCoreAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Recounts every open and recently ended cycle from the raw events and records the run.</summary>
    public async Task<RunRecord> ReconcileAsync(bool manual, string requestedBy, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await ReconcileCoreAsync(manual, requestedBy, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The draft brought up to date with usage's counters when usage answers within
    /// <see cref="BillingOptions.ReadRefreshTimeout"/>; otherwise the last computed state. Reads never
    /// fail because usage is down.
    /// </summary>
    public async Task<InvoiceRecord> RefreshDraftAsync(InvoiceRecord invoice, CancellationToken cancellationToken)
    {
        if (invoice.Finalized)
        {
            return invoice;
        }
        try
        {
            var usage = services.GetRequiredService<UsageCycles>();
            var found = await usage.FindAsync(invoice.SubscriptionId, invoice.PeriodStart, invoice.PeriodEnd, recount: false,
                options.CurrentValue.ReadRefreshTimeout, cancellationToken);
            if (found is not { } cycle ||
                (cycle.Cycle.BillableCalls == invoice.BillableCalls && cycle.Cycle.QuotaUsedBefore == invoice.Terms.QuotaUsedBefore))
            {
                return invoice;
            }
            // The invoice's stored terms are the plan's (plans never change), so no call to subscriptions.
            var terms = invoice.Terms with { QuotaUsedBefore = cycle.Cycle.QuotaUsedBefore };
            var (lines, subtotal) = Pricing.Price(terms, cycle.Cycle.BillableCalls);
            var result = await store.ApplyAsync([new PricedCycle(cycle.Cycle, terms, lines, subtotal)], CountSource.Counters, Now, long.MinValue,
                null, cancellationToken);
            metrics.DraftsChanged(result.Changed);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("read_refresh", "usage_unavailable");
            BillingLog.ReadRefreshSkipped(logger, invoice.Id, ex.StatusCode);
            return invoice;
        }
        catch (OverflowException)
        {
            metrics.Failed("read_refresh", "overflow");
            BillingLog.AmountOverflow(logger, invoice.SubscriptionId, invoice.PeriodStart);
            return invoice;
        }
        return await store.FindInvoiceAsync(invoice.Id, null, cancellationToken) ?? invoice;
    }

    private async Task SyncCoreAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var dueBy = now - (long)options.CurrentValue.FinalizationGrace.TotalMilliseconds;
        var usage = services.GetRequiredService<UsageCycles>();
        var watermark = await store.GetWatermarkAsync(cancellationToken);
        var blockedAt = long.MaxValue;
        int seen = 0, changed = 0, idle = 0, finalized = 0;
        bool listed;
        // Usage's cycles of this sync by subscription: the listing adds periods only where usage has none.
        var usageCycles = new Dictionary<string, List<(long Start, long End)>>(StringComparer.Ordinal);
        try
        {
            await foreach (var page in usage.PagesAsync(null, watermark, null, recount: false, null, cancellationToken))
            {
                seen += page.Count;
                foreach (var (cycle, _) in page)
                {
                    if (!usageCycles.TryGetValue(cycle.SubscriptionId, out var cycles))
                    {
                        usageCycles[cycle.SubscriptionId] = cycles = [];
                    }
                    cycles.Add((cycle.PeriodStart, cycle.PeriodEnd));
                }
                var (priced, blocked) = await PriceAsync(page, "sync", cancellationToken);
                blockedAt = Math.Min(blockedAt, blocked);
                var result = await store.ApplyAsync(priced, CountSource.Counters, now, long.MinValue, null, cancellationToken);
                changed += result.Created + result.Changed;
                Report(result, "sync");
            }

            (listed, idle) = await CreateIdleDraftsAsync(watermark, now, usageCycles, cancellationToken);

            // Finalisation needs the exact count: each due draft is recounted from the raw events.
            foreach (var draft in await store.ListDueDraftsAsync(dueBy, DueBatch, cancellationToken))
            {
                var asOf = Now;
                var found = await usage.FindAsync(draft.SubscriptionId, draft.PeriodStart, draft.PeriodEnd, recount: true, null, cancellationToken);
                List<PricedCycle> priced;
                if (found is { } cycle)
                {
                    (priced, var blocked) = await PriceAsync([cycle], "finalize", cancellationToken);
                    blockedAt = Math.Min(blockedAt, blocked);
                }
                else if (draft.BillableCalls == 0 && await IdleRecountAsync(draft.Id, asOf, cancellationToken) is { } recount)
                {
                    // Usage answered and holds no event of the period: the recount is zero calls.
                    priced = [recount];
                }
                else
                {
                    metrics.Failed("finalize", "cycle_missing");
                    BillingLog.CycleMissing(logger, draft.Id, draft.SubscriptionId);
                    continue;
                }
                var result = await store.ApplyAsync(priced, CountSource.Recount, now, dueBy, null, cancellationToken);
                finalized += result.Finalized.Count;
                Report(result, "finalize");
            }
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("sync", "usage_unavailable");
            BillingLog.UsageUnavailable(logger, "draft sync", ex.StatusCode, ex);
            return;
        }

        metrics.DraftsChanged(changed + idle);
        BillingLog.SyncCompleted(logger, seen, changed, idle, finalized, listed);
        if (!listed)
        {
            // Periods without usage after the watermark are not known to be invoiced: list them again next tick.
            return;
        }
        // Next time, list again every cycle that is open, in its grace period, or could not be invoiced.
        await store.AdvanceWatermarkAsync(blockedAt == long.MaxValue ? dueBy : Math.Min(dueBy, blockedAt - 1), cancellationToken);
    }

    /// <summary>
    /// Drafts for the periods after the watermark, begun by now, of every subscription (active, or
    /// cancelled within them) that usage reported no cycle for: the base fee is billed whatever the
    /// usage. Returns whether the whole listing was read; when subscriptions does not answer, this
    /// is logged once per outage and the sync's watermark holds, so the next tick lists them again.
    /// </summary>
    private async Task<(bool Complete, int Created)> CreateIdleDraftsAsync(long watermark, long now,
        Dictionary<string, List<(long Start, long End)>> usageCycles, CancellationToken cancellationToken)
    {
        var listing = services.GetRequiredService<SubscriptionPeriods>();
        var created = 0;
        try
        {
            await foreach (var page in listing.PagesAsync(watermark - (long)SubscriptionPeriods.LongestCycle.TotalMilliseconds, cancellationToken))
            {
                var periods = new List<PricedCycle>();
                foreach (var subscription in page)
                {
                    usageCycles.TryGetValue(subscription.Id, out var cycles);
                    foreach (var period in SubscriptionPeriods.ToInvoice(subscription.AnchorMs, subscription.CanceledAtMs, Math.Max(watermark, subscription.StartMs), now))
                    {
                        if (cycles is not null && cycles.Any(c => c.Start < period.EndMs && c.End > period.StartMs))
                        {
                            if (!cycles.Any(c => c.Start == period.StartMs))
                            {
                                ReportMisaligned(subscription.Id, "sync");
                            }
                            continue;
                        }
                        // Usage reported no cycle overlapping it in this sync: no call so far; later ones update the draft.
                        var input = new CycleInput(subscription.Id, subscription.AccountId, subscription.ProviderId, subscription.ApiId,
                            subscription.PlanId, period.StartMs, period.EndMs, 0, now);
                        var (lines, subtotal) = Pricing.Price(subscription.Terms, 0);
                        periods.Add(new PricedCycle(input, subscription.Terms, lines, subtotal));
                    }
                }
                var result = await store.CreateIdleDraftsAsync(periods, now, cancellationToken);
                created += result.Created;
                foreach (var subscriptionId in result.Misaligned)
                {
                    ReportMisaligned(subscriptionId, "sync");
                }
            }
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            metrics.Failed("sync", "subscriptions_unavailable");
            if (_listingFailures++ == 0)
            {
                BillingLog.SubscriptionsListingUnavailable(logger, ex.StatusCode, ex);
            }
            return (false, created);
        }
        if (_listingFailures > 0)
        {
            BillingLog.SubscriptionsListingBack(logger, _listingFailures);
            _listingFailures = 0;
        }
        return (true, created);
    }

    /// <summary>A due draft of a period without calls, priced at zero calls with its own stored terms; null when it is gone or final.</summary>
    private async Task<PricedCycle?> IdleRecountAsync(string invoiceId, long asOf, CancellationToken cancellationToken)
    {
        if (await store.FindInvoiceAsync(invoiceId, null, cancellationToken) is not { Finalized: false } invoice)
        {
            return null;
        }
        var input = new CycleInput(invoice.SubscriptionId, invoice.AccountId, invoice.ProviderId, invoice.ApiId, invoice.PlanId, invoice.PeriodStart,
            invoice.PeriodEnd, 0, asOf);
        var (lines, subtotal) = Pricing.Price(invoice.Terms, 0);
        return new PricedCycle(input, invoice.Terms, lines, subtotal);
    }

    /// <summary>Usage's cycles of a subscription do not start where its own periods do (logged once per subscription).</summary>
    private void ReportMisaligned(string subscriptionId, string job)
    {
        if (_misalignedLogged.TryAdd(subscriptionId, 0))
        {
            metrics.Failed(job, "cycle_misaligned");
            BillingLog.CycleMisaligned(logger, subscriptionId);
        }
    }

    private async Task<RunRecord> ReconcileCoreAsync(bool manual, string requestedBy, CancellationToken cancellationToken)
    {
        var o = options.CurrentValue;
        var now = Now;
        var dueBy = now - (long)o.FinalizationGrace.TotalMilliseconds;
        var windowStart = now - (long)o.ReconciliationLookback.TotalMilliseconds;
        var runId = BillingStore.NewId("rec");
        var stopwatch = Stopwatch.StartNew();
        await store.StartRunAsync(runId, manual ? 2 : 1, requestedBy, now, windowStart, cancellationToken);

        int @checked = 0, differences = 0, adjustments = 0;
        var error = "";
        try
        {
            var usage = services.GetRequiredService<UsageCycles>();
            await foreach (var page in usage.PagesAsync(null, windowStart, null, recount: true, null, cancellationToken))
            {
                var (priced, blocked) = await PriceAsync(page, "reconcile", cancellationToken);
                if (blocked != long.MaxValue && error.Length == 0)
                {
                    error = "Subscriptions did not answer GetPlan for some new cycles; they are left for the next run.";
                }
                var result = await store.ApplyAsync(priced, CountSource.Recount, now, dueBy, runId, cancellationToken);
                @checked += result.Checked + result.Created;
                differences += result.Differences;
                adjustments += result.Adjustments.Count;
                Report(result, "reconcile");
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

    /// <summary>
    /// Prices a page: terms stored on an existing invoice, else the plan from subscriptions. Returns
    /// the priced cycles and the earliest end of a cycle that must be tried again (subscriptions did
    /// not answer); cycles that can never be priced (unknown plan, overflow) are logged and skipped.
    /// </summary>
    private async Task<(List<PricedCycle> Priced, long BlockedAt)> PriceAsync(IReadOnlyList<(CycleInput Cycle, CycleUsage Raw)> page, string job,
        CancellationToken cancellationToken)
    {
        var stored = await store.FindStoredTermsAsync(page.Select(c => (c.Cycle.SubscriptionId, c.Cycle.PeriodStart)), cancellationToken);
        var plans = services.GetRequiredService<PlanTermsSource>();
        var priced = new List<PricedCycle>(page.Count);
        var blockedAt = long.MaxValue;
        foreach (var (cycle, raw) in page)
        {
            if (!stored.TryGetValue((cycle.SubscriptionId, cycle.PeriodStart), out var terms))
            {
                try
                {
                    terms = await plans.GetAsync(cycle.PlanId, cancellationToken);
                }
                catch (PlanNotFoundException)
                {
                    metrics.Failed(job, "plan_not_found");
                    BillingLog.PlanNotFound(logger, cycle.PlanId, cycle.SubscriptionId);
                    continue;
                }
                catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    metrics.Failed(job, "plan_unavailable");
                    BillingLog.PlanUnavailable(logger, cycle.PlanId, ex.StatusCode, cycle.SubscriptionId);
                    blockedAt = Math.Min(blockedAt, cycle.PeriodEnd);
                    continue;
                }
            }
            CheckSnapshot(cycle, raw, terms);
            // Usage's latest count of what earlier subscriptions used in this cycle (a finalised invoice keeps its own).
            terms = terms with { QuotaUsedBefore = cycle.QuotaUsedBefore };
            try
            {
                var (lines, subtotal) = Pricing.Price(terms, cycle.BillableCalls);
                priced.Add(new PricedCycle(cycle, terms, lines, subtotal));
            }
            catch (OverflowException)
            {
                metrics.Failed(job, "overflow");
                BillingLog.AmountOverflow(logger, cycle.SubscriptionId, cycle.PeriodStart);
            }
        }
        return (priced, blockedAt);
    }

    /// <summary>
    /// Usage keeps the terms the edge enforced; plans never change, so they must equal the plan's.
    /// A difference means an edge or data bug: the plan is billed and the difference logged once.
    /// </summary>
    private void CheckSnapshot(CycleInput cycle, CycleUsage raw, Terms terms)
    {
        var matches = raw.MonthlyQuota == terms.MonthlyQuota && raw.OverageAllowed == terms.OverageAllowed &&
            raw.PricePerCallMinor == terms.PricePerCallMinor && (raw.Currency.Length == 0 || raw.Currency == terms.Currency);
        if (!matches && _mismatchLogged.TryAdd(cycle.SubscriptionId, 0))
        {
            metrics.Failed("pricing", "snapshot_mismatch");
            BillingLog.SnapshotMismatch(logger, cycle.SubscriptionId, cycle.PlanId);
        }
    }

    private void Report(ApplyResult result, string job)
    {
        foreach (var subscriptionId in result.Misaligned)
        {
            ReportMisaligned(subscriptionId, job);
        }
        foreach (var (subscriptionId, periodStart) in result.Overflowed)
        {
            metrics.Failed(job, "overflow");
            BillingLog.AmountOverflow(logger, subscriptionId, periodStart);
        }
        foreach (var invoice in result.Finalized)
        {
            BillingLog.InvoiceFinalized(logger, invoice.Id, invoice.Number, invoice.AccountId, invoice.TotalMinor, invoice.Currency);
        }
        metrics.Finalized(result.Finalized.Count);
        foreach (var (adjustment, calls) in result.Adjustments)
        {
            metrics.AdjustmentWritten("reconciliation");
            BillingLog.ReconciliationAdjusted(logger, adjustment.InvoiceId!, adjustment.AmountMinor, adjustment.Currency, calls);
        }
    }
}
