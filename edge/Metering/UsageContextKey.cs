using System.Runtime.CompilerServices;
using Google.Protobuf.WellKnownTypes;
using Veil.Edge.Calls;
using Veil.Subscriptions.V1;
using Veil.Usage.V1;

namespace Veil.Edge.Metering;

/// <summary>
/// What one call's usage event shares with the other calls of the same key on the same route under
/// the same plan terms, held by reference to the objects the pipeline already has: the spool writer
/// groups calls by it and encodes the shared fields once per group (<see cref="UsageEventGroup"/>).
/// Equality is by reference for the objects and ordinal for the strings, so grouping never hashes
/// a protobuf message; two equal contexts held in different objects (after a config or plan
/// refresh) only make two groups, which usage resolves to the same context row.
/// </summary>
internal readonly struct UsageContextKey(ApiRoute route, string method, string? keyId, string? keyPrefix, string? consumerId,
    string? subscriptionId, string? planId, Timestamp? subscriptionStart, Plan? plan) : IEquatable<UsageContextKey>
{
    public ApiRoute Route { get; } = route;

    public string Method { get; } = method;

    public string? KeyId { get; } = keyId;

    /// <summary>The key's display prefix (for the call log), derived once per key validation.</summary>
    public string? KeyPrefix { get; } = keyPrefix;

    public string? ConsumerId { get; } = consumerId;

    /// <summary>Null when the call was not entitled (then so are the plan fields).</summary>
    public string? SubscriptionId { get; } = subscriptionId;

    public string? PlanId { get; } = planId;

    public Timestamp? SubscriptionStart { get; } = subscriptionStart;

    public Plan? Plan { get; } = plan;

    /// <summary>
    /// The context of <paramref name="call"/> on <paramref name="route"/>. A call is entitled when the
    /// pipeline knows its subscription, plan and subscription start; only then do the subscription
    /// and its terms travel with it (and only then can it be billable).
    /// </summary>
    public static UsageContextKey Of(ApiRoute route, string method, ApiCallFeature call) =>
        call is { SubscriptionId: not null, PlanId: not null, SubscriptionStart: not null }
            ? new(route, method, call.KeyId, call.KeyPrefix, call.ConsumerId, call.SubscriptionId, call.PlanId, call.SubscriptionStart, call.Plan)
            : new(route, method, call.KeyId, call.KeyPrefix, call.ConsumerId, null, null, null, null);

    public bool Equals(UsageContextKey other) =>
        ReferenceEquals(Route, other.Route) && ReferenceEquals(Plan, other.Plan) && ReferenceEquals(SubscriptionStart, other.SubscriptionStart) &&
        // KeyPrefix is not compared: it is derived from the key, which KeyId names.
        string.Equals(Method, other.Method, StringComparison.Ordinal) && string.Equals(KeyId, other.KeyId, StringComparison.Ordinal) &&
        string.Equals(ConsumerId, other.ConsumerId, StringComparison.Ordinal) &&
        string.Equals(SubscriptionId, other.SubscriptionId, StringComparison.Ordinal) &&
        string.Equals(PlanId, other.PlanId, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is UsageContextKey other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(RuntimeHelpers.GetHashCode(Route), KeyId, Method);

    /// <summary>The shared fields as the context of a <see cref="UsageEventGroup"/>.</summary>
    public UsageEvent ToContext(string edgeId)
    {
        var context = new UsageEvent
        {
            EdgeId = edgeId,
            ApiId = Route.ApiId,
            ProviderId = Route.ProviderId,
            ConfigVersion = Route.ConfigVersion,
            KeyId = KeyId ?? "",
            KeyPrefix = KeyPrefix ?? "",
            ConsumerId = ConsumerId ?? "",
            Method = Method,
            Route = Route.Template,
        };
        if (SubscriptionId is not null)
        {
            context.SubscriptionId = SubscriptionId;
            context.PlanId = PlanId!;
            context.SubscriptionStart = SubscriptionStart;
            if (Plan is { } plan)
            {
                context.MonthlyQuota = plan.MonthlyQuota;
                context.OverageAllowed = plan.OverageAllowed;
                context.PricePerCallMinor = plan.PricePerCallMinor;
                context.Currency = plan.Currency;
            }
        }
        return context;
    }
}
