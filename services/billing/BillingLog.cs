using Grpc.Core;

namespace Veil.Billing;

/// <summary>The billing service's log messages (EventIds 7000–7999). Ids and amounts only, never a secret.</summary>
internal static partial class BillingLog
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Information, Message = "Invoice {InvoiceId} ({Number}) finalised for account {AccountId}: {TotalMinor} {Currency}")]
    public static partial void InvoiceFinalized(ILogger logger, string invoiceId, string number, string accountId, long totalMinor, string currency);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Debug, Message = "Draft sync: {Cycles} cycles seen, {Changed} drafts created or changed, {Idle} drafts created for periods without usage, {Finalized} finalised; subscriptions listed: {Listed}")]
    public static partial void SyncCompleted(ILogger logger, int cycles, int changed, int idle, int finalized, bool listed);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Usage's cycles of subscription {SubscriptionId} do not start where its periods (anchored on its start) do; usage's cycles are billed, overlapping periods without usage are not")]
    public static partial void CycleMisaligned(ILogger logger, string subscriptionId);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Usage did not answer {Job} ({StatusCode}); retrying at the next tick")]
    public static partial void UsageUnavailable(ILogger logger, string job, StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "Subscriptions did not answer GetCycleTerms for {Cycles} cycles ({StatusCode}); they are retried at the next tick")]
    public static partial void PlanUnavailable(ILogger logger, int cycles, StatusCode statusCode);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Error, Message = "Subscriptions does not know subscription {SubscriptionId} (plan {PlanId}); its cycle cannot be invoiced")]
    public static partial void PlanNotFound(ILogger logger, string planId, string subscriptionId);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Error, Message = "Invoice amounts of subscription {SubscriptionId} (cycle starting {CycleStartMs}) overflow 64-bit minor units; left as they were")]
    public static partial void AmountOverflow(ILogger logger, string subscriptionId, long cycleStartMs);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Warning, Message = "Usage's plan snapshot for subscription {SubscriptionId} differs from plan {PlanId} in subscriptions; the plan is billed")]
    public static partial void SnapshotMismatch(ILogger logger, string subscriptionId, string planId);

    [LoggerMessage(EventId = 7015, Level = LogLevel.Error, Message = "The {Job} job failed unexpectedly; it runs again at the next tick")]
    public static partial void JobFailed(ILogger logger, string job, Exception exception);

    [LoggerMessage(EventId = 7016, Level = LogLevel.Debug, Message = "Draft invoice {InvoiceId} served as last computed: usage did not answer in time ({StatusCode})")]
    public static partial void ReadRefreshSkipped(ILogger logger, string invoiceId, StatusCode statusCode);

    [LoggerMessage(EventId = 7017, Level = LogLevel.Warning, Message = "Usage no longer reports the cycle of draft invoice {InvoiceId} (subscription {SubscriptionId}); it stays a draft")]
    public static partial void CycleMissing(ILogger logger, string invoiceId, string subscriptionId);

    [LoggerMessage(EventId = 7018, Level = LogLevel.Warning, Message = "Subscriptions did not answer ListSubscriptionsForBilling ({StatusCode}); periods without usage wait and the sync watermark holds. Retried every tick; logged once per outage")]
    public static partial void SubscriptionsListingUnavailable(ILogger logger, StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 7019, Level = LogLevel.Information, Message = "Subscriptions answered ListSubscriptionsForBilling again after {FailedSyncs} failed draft syncs")]
    public static partial void SubscriptionsListingBack(ILogger logger, int failedSyncs);

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "Reconciliation {RunId} finished: {Checked} invoices checked, {Differences} differences, {Adjustments} adjustments")]
    public static partial void ReconciliationFinished(ILogger logger, string runId, int @checked, int differences, int adjustments);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Warning, Message = "Reconciliation {RunId} failed after {Checked} invoices: {Error}")]
    public static partial void ReconciliationFailed(ILogger logger, string runId, int @checked, string error);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Information, Message = "Reconciliation adjusted finalised invoice {InvoiceId}: {AmountMinor} {Currency} ({Calls} calls recounted)")]
    public static partial void ReconciliationAdjusted(ILogger logger, string invoiceId, long amountMinor, string currency, long calls);

    [LoggerMessage(EventId = 7023, Level = LogLevel.Warning, Message = "{Count} reconciliation run(s) were interrupted by a stop and are recorded as failed")]
    public static partial void InterruptedRuns(ILogger logger, int count);

    [LoggerMessage(EventId = 7030, Level = LogLevel.Information, Message = "Adjustment {AdjustmentId} of {AmountMinor} {Currency} on account {AccountId} by {ActorId}")]
    public static partial void AdjustmentCreated(ILogger logger, string adjustmentId, long amountMinor, string currency, string accountId, string actorId);

    [LoggerMessage(EventId = 7031, Level = LogLevel.Information, Message = "Invoice {InvoiceId} marked paid by {ActorId}")]
    public static partial void InvoicePaid(ILogger logger, string invoiceId, string actorId);

    [LoggerMessage(EventId = 7032, Level = LogLevel.Information, Message = "Credit hold placed on account {AccountId} by {ActorId}")]
    public static partial void HoldPlaced(ILogger logger, string accountId, string actorId);

    [LoggerMessage(EventId = 7033, Level = LogLevel.Information, Message = "Credit hold on account {AccountId} lifted by {ActorId}")]
    public static partial void HoldLifted(ILogger logger, string accountId, string actorId);
}
