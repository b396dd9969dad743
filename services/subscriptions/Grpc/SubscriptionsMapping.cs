using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace Veil.Subscriptions.Grpc;

/// <summary>Store records to proto messages; times become <see cref="Timestamp"/>s from Unix ms.</summary>
internal static class SubscriptionsMapping
{
    public static Plan ToProto(PlanRecord plan) => new()
    {
        Id = plan.Id,
        ApiId = plan.ApiId,
        Name = plan.Name,
        RequestsPerSecond = plan.RequestsPerSecond,
        Burst = plan.Burst,
        MonthlyQuota = plan.MonthlyQuota,
        PricePerCallMinor = plan.PricePerCallMinor,
        Currency = plan.Currency,
        OverageAllowed = plan.OverageAllowed,
        CreateTime = UnixMs.ToTimestamp(plan.CreatedAt),
        BasePriceMinor = plan.BasePriceMinor,
        OveragePricePerCallMinor = plan.OveragePricePerCallMinor,
        Version = plan.Version,
        State = plan.DeletedAt is not null ? PlanState.Deleted : plan.State == PlanStates.Archived ? PlanState.Archived : PlanState.Active,
        Etag = plan.Etag,
        UpdateTime = UnixMs.ToTimestamp(plan.UpdatedAt),
    };

    public static PlanVersion ToProto(PlanVersionRecord version) => new()
    {
        PlanId = version.Plan.Id,
        Version = version.Version,
        Plan = ToProto(version.Plan),
        CreatedBy = version.CreatedBy,
        CreateTime = UnixMs.ToTimestamp(version.CreatedAt),
    };

    public static Subscription ToProto(SubscriptionRecord subscription) => new()
    {
        Id = subscription.Id,
        ConsumerId = subscription.ConsumerId,
        ApiId = subscription.ApiId,
        PlanId = subscription.PlanId,
        Status = subscription.Active ? SubscriptionStatus.Active : SubscriptionStatus.Canceled,
        CreateTime = UnixMs.ToTimestamp(subscription.CreatedAt),
        CancelTime = subscription.CanceledAt is { } canceledAt ? UnixMs.ToTimestamp(canceledAt) : null,
        CycleAnchorTime = UnixMs.ToTimestamp(subscription.CycleAnchor),
        PlanVersion = subscription.CycleVersion ?? subscription.StartVersion,
    };

    /// <summary>A subscription with its plan and provider, as billing lists them.</summary>
    public static BillableSubscription ToProto((SubscriptionRecord Subscription, PlanRecord Plan) row) => new()
    {
        Subscription = ToProto(row.Subscription),
        Plan = ToProto(row.Plan),
        ProviderId = row.Subscription.ProviderId,
    };

    /// <summary>The change pushed to the edges' watch streams.</summary>
    public static SubscriptionChange ToChange(SubscriptionRecord subscription, SubscriptionChangeKind kind) => new()
    {
        SubscriptionId = subscription.Id,
        ConsumerId = subscription.ConsumerId,
        ApiId = subscription.ApiId,
        Kind = kind,
    };
}
