namespace Veil.Edge.Calls;

/// <summary>
/// How an API call ended: the values of the <c>veil.outcome</c> tag on API requests'
/// <c>http.server.request.duration</c>. A step that answers the call itself sets one on
/// <see cref="ApiCallFeature.Outcome"/>; otherwise <see cref="ApiCallMiddleware"/> derives it from
/// the forward. The one list of them: every step takes its outcome from here.
/// </summary>
internal static class Outcomes
{
    public const string Authorized = "authorized";
    public const string Unauthenticated = "unauthenticated";
    public const string Forbidden = "forbidden";
    public const string Unavailable = "unavailable";

    /// <summary>A rate limit (ip, key, consumer or plan) answered 429; not billable.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>The subscription's hard quota is exhausted: 429 until its cycle ends; not billable.</summary>
    public const string QuotaExhausted = "quota_exhausted";

    public const string UpstreamError = "upstream_error";

    /// <summary>Every target's circuit breaker is open: 503 with Retry-After, nothing sent upstream; not billable.</summary>
    public const string CircuitOpen = "circuit_open";

    /// <summary>The SSRF guard refused every address of the upstream (502, nothing sent).</summary>
    public const string UpstreamNotAllowed = "upstream_not_allowed";
    public const string ClientAborted = "client_aborted";

    /// <summary>Every target of the API is out of rotation (failed health checks): 503 at once, nothing sent; not billable.</summary>
    public const string NoHealthyUpstream = "no_healthy_upstream";

    /// <summary>A method the edge does not meter: 405 before any other step.</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>A CORS preflight the edge answered itself (204, never forwarded): not a call, no usage event.</summary>
    public const string Preflight = "preflight";

    /// <summary>The provider suspended the API: 503 api-suspended before the call starts (no usage event, not billable).</summary>
    public const string ApiSuspended = "api_suspended";

    /// <summary>The API was deleted and its sunset has passed: 410 api-retired before the call starts (no usage event, not billable).</summary>
    public const string ApiRetired = "api_retired";

    /// <summary>Kestrel refused the request body while it was forwarded (over the size limit: 413).</summary>
    public const string BadRequest = "bad_request";
}
