using System.Diagnostics.Metrics;

namespace Veil.Subscriptions;

/// <summary>The <c>Veil.Subscriptions</c> meter.</summary>
public sealed class SubscriptionsMetrics
{
    public const string MeterName = "Veil.Subscriptions";

    private readonly Counter<long> _changes;
    private readonly Counter<long> _entitlementChecks;
    private readonly Counter<long> _catalogFailures;
    private readonly Counter<long> _creditHoldChecks;
    private readonly Counter<long> _planNotices;

    public SubscriptionsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _changes = meter.CreateCounter<long>("veil.subscriptions.changes", description: "Plans created, subscriptions started and cancelled.");
        _entitlementChecks = meter.CreateCounter<long>("veil.subscriptions.entitlement_checks", description: "CheckEntitlement answers by result.");
        _catalogFailures = meter.CreateCounter<long>("veil.subscriptions.catalog_failures", description: "Calls to catalog that failed or timed out.");
        _creditHoldChecks = meter.CreateCounter<long>("veil.subscriptions.credit_hold_checks", description: "Credit-hold checks before paid subscriptions, by outcome.");
        _planNotices = meter.CreateCounter<long>("veil.subscriptions.plan_notices", description: "plan.changed notices handed to usage, and failed passes.");
    }

    public void Changed(string kind) => _changes.Add(1, new KeyValuePair<string, object?>("veil.change", kind));

    public void EntitlementChecked(bool entitled) => _entitlementChecks.Add(1, new KeyValuePair<string, object?>("veil.entitled", entitled));

    public void CatalogFailed() => _catalogFailures.Add(1);

    /// <summary><paramref name="outcome"/>: clear, on_hold or unavailable.</summary>
    public void CreditHoldChecked(string outcome) => _creditHoldChecks.Add(1, new KeyValuePair<string, object?>("veil.outcome", outcome));

    /// <summary>Notices handed to usage's NotifyConsumers.</summary>
    public void PlanNoticesSent(int count) => _planNotices.Add(count, new KeyValuePair<string, object?>("veil.outcome", "sent"));

    /// <summary>A pass that usage did not answer.</summary>
    public void PlanNoticesFailed() => _planNotices.Add(1, new KeyValuePair<string, object?>("veil.outcome", "failed"));
}
