using Veil.Subscriptions.V1;

namespace Veil.Edge.Entitlement;

/// <summary>An active subscription that lets a consumer call an API, and its plan.</summary>
internal sealed record Entitlement(string SubscriptionId, string PlanId, Plan? Plan, Google.Protobuf.WellKnownTypes.Timestamp? SubscriptionStart = null);
