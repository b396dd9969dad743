using Veil.Subscriptions.V1;

namespace Veil.Edge.Calls;

/// <summary>
/// What the edge knows about one API call as it moves through the pipeline: set by
/// <see cref="ApiCallMiddleware"/> on API routes only, filled in by the key and entitlement steps,
/// read by the later steps, the transforms and metering.
/// </summary>
internal sealed class ApiCallFeature(string apiId, long startTimestamp)
{
    public string ApiId { get; } = apiId;

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the pipeline start.</summary>
    public long StartTimestamp { get; } = startTimestamp;

    /// <summary>Set when a step answers the request itself (see <see cref="Outcomes"/>); null while the call goes on.</summary>
    public string? Outcome { get; set; }

    public string? KeyId { get; set; }

    /// <summary>The key's display prefix (identity's <c>ApiKey.prefix</c>), for the call log.</summary>
    public string? KeyPrefix { get; set; }

    public string? ConsumerId { get; set; }

    /// <summary>The key's narrowing (APIs, read-only); null when the key may call anything its account may.</summary>
    public ApiKeyScope? KeyScope { get; set; }

    public string? SubscriptionId { get; set; }

    public string? PlanId { get; set; }

    /// <summary>The subscription's plan (limits, quota), for the rate-limit and quota steps.</summary>
    public Plan? Plan { get; set; }

    /// <summary>When the subscription started: the anchor of its billing cycles (usage events carry it).</summary>
    public Google.Protobuf.WellKnownTypes.Timestamp? SubscriptionStart { get; set; }

    /// <summary>False when the edge refused the call itself (e.g. a rate limit answered 429): not billed.</summary>
    public bool Billable { get; set; } = true;
}
