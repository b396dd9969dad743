using Google.Protobuf.WellKnownTypes;
using Veil.Usage.V1;

namespace Veil.Usage.Data;

/// <summary>
/// What makes a usage event countable. A malformed event is not an error of the batch: it is
/// quarantined with the first problem found, so one bad event never blocks the edge's spool.
/// </summary>
internal static class EventRules
{
    public const int MaxIdLength = 128;
    public const int MaxRouteLength = 512;
    public const int MaxMethodLength = 16;
    public const int MaxPathLength = 512;
    public const int MaxKeyPrefixLength = 32;

    // Anything outside these years is a bug, not a clock: it keeps cycle arithmetic in range.
    private static readonly long MinTimeMs = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private static readonly long MaxTimeMs = new DateTimeOffset(3000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
    private static readonly long MaxStartAheadMs = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    /// <summary>
    /// Fixes what is only cosmetic before <see cref="Check"/>: a method in lower or mixed case is
    /// upper-cased (HTTP methods are tokens; an edge before issue 12 sent <c>get</c> as the client
    /// spelled it, and a billable call must never be lost to that). Allocates only when it changes.
    /// </summary>
    public static void Normalize(UsageEvent e)
    {
        var method = e.Method;
        foreach (var c in method)
        {
            if (char.IsAsciiLetterLower(c))
            {
                e.Method = method.ToUpperInvariant();
                return;
            }
        }
    }

    /// <summary>Null when the event can be counted; otherwise "field: why".</summary>
    public static string? Check(UsageEvent e)
    {
        if (!IsValidEventId(e.EventId))
        {
            return EventIdProblem;
        }
        if (e.OccurredAt is null || !InRange(e.OccurredAt))
        {
            return OccurredAtProblem;
        }
        return CheckContext(e) ?? CheckCall(e, e.OccurredAt.ToUnixMilliseconds(), e.StatusCode, e.LatencyMs, e.BytesIn, e.BytesOut, e.Billable)
            ?? CheckCallLog(e.RequestId, e.Path);
    }

    /// <summary>
    /// The checks of <see cref="Check"/> that depend only on the fields a group's calls share: a
    /// group's context is checked once, then each call with <see cref="CheckCall"/>.
    /// </summary>
    public static string? CheckContext(UsageEvent e)
    {
        if (!IsId(e.ApiId, required: true))
        {
            return "api_id: required, at most 128 printable ASCII characters";
        }
        if (!IsId(e.ProviderId, required: true))
        {
            return "provider_id: required, at most 128 printable ASCII characters";
        }
        if (!IsId(e.EdgeId, required: false) || !IsId(e.KeyId, required: false) || !IsId(e.ConsumerId, required: false) ||
            !IsId(e.SubscriptionId, required: false) || !IsId(e.PlanId, required: false))
        {
            return "edge_id, key_id, consumer_id, subscription_id, plan_id: at most 128 printable ASCII characters";
        }
        if (e.SubscriptionId.Length > 0)
        {
            if (e.ConsumerId.Length == 0 || e.PlanId.Length == 0)
            {
                return "consumer_id, plan_id: required with a subscription_id";
            }
            if (e.SubscriptionStart is null || !InRange(e.SubscriptionStart))
            {
                return SubscriptionStartProblem;
            }
        }
        if (e.Method.Length is 0 or > MaxMethodLength || !IsUpperAscii(e.Method))
        {
            return "method: 1 to 16 upper-case ASCII letters";
        }
        if (e.Route.Length > MaxRouteLength || e.Route.Contains('?', StringComparison.Ordinal) || e.Route.Contains('#', StringComparison.Ordinal))
        {
            return "route: at most 512 characters, a template without query string or fragment";
        }
        if (e.KeyPrefix.Length > 0 && (e.KeyId.Length == 0 || e.KeyPrefix.Length > MaxKeyPrefixLength || !IsId(e.KeyPrefix, required: false)))
        {
            return "key_prefix: at most 32 printable ASCII characters, only with a key_id";
        }
        if (e.ConfigVersion < 0)
        {
            return NegativeProblem;
        }
        if (e.MonthlyQuota < 0 || e.PricePerCallMinor < 0)
        {
            return "monthly_quota, price_per_call_minor: not negative";
        }
        if (e.Currency.Length > 0 ? e.Currency.Length != 3 || !IsUpperAscii(e.Currency) : e.PricePerCallMinor > 0)
        {
            return "currency: an ISO 4217 code (three upper-case letters), required when priced";
        }
        return null;
    }

    /// <summary>
    /// The checks of one call against its (already checked) context: the per-call fields, and the
    /// rules that tie them to the context. The event id and occurred_at are checked by the caller.
    /// </summary>
    public static string? CheckCall(UsageEvent context, long occurredMs, int statusCode, long latencyMs, long bytesIn, long bytesOut, bool billable)
    {
        if (context.SubscriptionId.Length > 0 && context.SubscriptionStart.ToUnixMilliseconds() > occurredMs + MaxStartAheadMs)
        {
            return SubscriptionStartProblem;
        }
        if (billable && (context.SubscriptionId.Length == 0 || context.KeyId.Length == 0))
        {
            return "subscription_id, key_id: required when billable";
        }
        if (statusCode is < 100 or > 599)
        {
            return "status_code: 100 to 599";
        }
        if (latencyMs < 0 || bytesIn < 0 || bytesOut < 0)
        {
            return NegativeProblem;
        }
        return null;
    }

    /// <summary>
    /// The call-log fields of one call (empty from edges before the call log): a request id like
    /// the edge's X-Request-Id, and a path without query string or fragment.
    /// </summary>
    public static string? CheckCallLog(string requestId, string path)
    {
        if (!IsId(requestId, required: false))
        {
            return "request_id: at most 128 printable ASCII characters";
        }
        if (path.Length > 0 && (path.Length > MaxPathLength || path[0] != '/' || !IsPath(path)))
        {
            return "path: at most 512 printable ASCII characters, starting with \"/\", without query string or fragment";
        }
        return null;
    }

    private static bool IsPath(string path)
    {
        foreach (var c in path)
        {
            if (c is < '!' or > '~' or '?' or '#')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True when <paramref name="ms"/> is a usable occurred_at (between the years 2000 and 3000).</summary>
    public static bool IsValidTime(long ms) => ms >= MinTimeMs && ms < MaxTimeMs;

    public const string EventIdProblem = "event_id: required, at most 128 printable ASCII characters";
    public const string OccurredAtProblem = "occurred_at: required, between the years 2000 and 3000";
    private const string NegativeProblem = "latency_ms, bytes_in, bytes_out, config_version: not negative";
    private const string SubscriptionStartProblem = "subscription_start: required with a subscription_id, and not after occurred_at";

    /// <summary>True when <paramref name="eventId"/> can serve as the deduplication key.</summary>
    public static bool IsValidEventId(string eventId) => IsId(eventId, required: true);

    private static bool InRange(Timestamp t)
    {
        if (t.Seconds is < -62_135_596_800 or > 253_402_300_799)
        {
            return false;
        }
        var ms = t.ToUnixMilliseconds();
        return ms >= MinTimeMs && ms < MaxTimeMs;
    }

    private static bool IsUpperAscii(string value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiLetterUpper(c))
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsId(string value, bool required)
    {
        if (value.Length == 0)
        {
            return !required;
        }
        if (value.Length > MaxIdLength)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }
        return true;
    }
}
