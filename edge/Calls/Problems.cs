using System.Collections.Concurrent;
using System.Globalization;

namespace Veil.Edge.Calls;

/// <summary>
/// Every error the edge itself answers, and the one way it writes them (<see cref="WriteAsync"/>).
/// Bodies are constant (no trace id, no echo of the request), so e.g. all invalid keys get
/// byte-identical answers; the request id travels in X-Request-Id. Only the quota problem says more:
/// the quota and when it resets, which are the subscription's own terms.
/// </summary>
internal static class Problems
{
    /// <summary>The <c>X-Content-Type-Options</c> value on every answer of the edge's.</summary>
    public const string NoSniff = "nosniff";

    /// <summary>The <c>type</c> of the quota-exhausted problem.</summary>
    public const string QuotaExhaustedType = "https://veil.dev/problems/quota-exhausted";

    private const string ProblemJson = "application/problem+json";
    private const string GrpcContentType = "application/grpc";
    private const string GrpcStatusHeader = "grpc-status";
    private const string GrpcMessageHeader = "grpc-message";
    private const string KeyScopeType = "https://veil.dev/problems/key-scope";

    public static readonly Problem ApiKeyRequired = new(StatusCodes.Status401Unauthorized,
        "An API key is required: send it in the X-Api-Key header or as 'Authorization: Bearer veil_…'.");

    /// <summary>Malformed, unknown and revoked keys alike: nothing tells them apart.</summary>
    public static readonly Problem ApiKeyInvalid = new(StatusCodes.Status401Unauthorized, "The API key is not valid.");

    /// <summary>
    /// A key that exists, is not revoked and has passed its expiry (or the end of its rotation
    /// overlap). Only the key's holder can get this answer, and it tells them what to do.
    /// </summary>
    public static readonly Problem ApiKeyExpired = new(StatusCodes.Status401Unauthorized,
        "The API key has expired: use its successor if it was rotated, or create a new key (POST /v1/keys).",
        "https://veil.dev/problems/key-expired");

    /// <summary>The key is valid but narrowed to other APIs.</summary>
    public static readonly Problem KeyNotScopedToApi = new(StatusCodes.Status403Forbidden,
        "The API key is not scoped to this API: use a key whose api_ids include it, or one without api_ids.",
        KeyScopeType);

    /// <summary>The key is read-only and the method is not GET, HEAD or OPTIONS.</summary>
    public static readonly Problem KeyReadOnly = new(StatusCodes.Status403Forbidden,
        "The API key is read-only: it allows only GET, HEAD and OPTIONS requests.",
        KeyScopeType);

    public static readonly Problem NotEntitled = new(StatusCodes.Status403Forbidden,
        "The API key's account has no active subscription to this API.");

    public static readonly Problem AuthUnavailable = new(StatusCodes.Status503ServiceUnavailable,
        "The request cannot be authorized right now; try again shortly.");

    public static readonly Problem NotFound = new(StatusCodes.Status404NotFound, "Nothing is served at this path.");

    public static readonly Problem MethodNotAllowed = new(StatusCodes.Status405MethodNotAllowed,
        "API calls use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (see the Allow header).");

    /// <summary>The SSRF guard refused every address the upstream's name resolves to; nothing was sent upstream.</summary>
    public static readonly Problem UpstreamAddressNotAllowed = new(StatusCodes.Status502BadGateway,
        "Upstream address not allowed: the API's upstream resolves only to loopback, private, link-local or other non-public addresses, which the edge does not call.");

    /// <summary>Every target of the API failed its health checks on this edge; sent with Retry-After.</summary>
    public static readonly Problem NoHealthyUpstream = new(StatusCodes.Status503ServiceUnavailable,
        "No healthy upstream: every target of this API is out of rotation (failing its health checks); retry after the time in Retry-After.",
        "https://veil.dev/problems/no-healthy-upstream");

    /// <summary>An edge-served management path called without a valid Veil access token.</summary>
    public static readonly Problem SignInRequired = new(StatusCodes.Status401Unauthorized,
        "A valid access token is required: send it as 'Authorization: Bearer <access token>' (POST /v1/auth/signin).");

    /// <summary>An API the caller may not see, or that this edge does not serve: one answer for both.</summary>
    public static readonly Problem ApiNotFound = new(StatusCodes.Status404NotFound, "The API was not found.");

    /// <summary>Every target's circuit breaker is open (docs/resilience.md); Retry-After says when one half-opens.</summary>
    public static readonly Problem CircuitOpen = new(StatusCodes.Status503ServiceUnavailable,
        "The API's upstream is failing, so the edge is not calling it for now; retry after the time in Retry-After.",
        "https://veil.dev/problems/circuit-open", "Circuit open");

    /// <summary>The provider suspended the API (catalog's SuspendApi): nothing is sent upstream until it resumes it.</summary>
    public static readonly Problem ApiSuspended = new(StatusCodes.Status503ServiceUnavailable,
        "The API's provider has suspended it: calls are refused until the provider resumes it. Your subscription is unchanged.",
        "https://veil.dev/problems/api-suspended", "API suspended");

    /// <summary>The API was deleted and its sunset (the Sunset header) has passed.</summary>
    public static readonly Problem ApiRetired = new(StatusCodes.Status410Gone,
        "The API's provider has deleted it and its sunset date (see the Sunset header) has passed: it is no longer served, and subscriptions to it ended at that date.",
        "https://veil.dev/problems/api-retired", "API retired");

    private static readonly Dictionary<string, Problem> ByLimit = new(StringComparer.Ordinal)
    {
        ["ip"] = new(StatusCodes.Status429TooManyRequests, "Too many requests from this client address (ip limit); retry after the time in Retry-After."),
        ["key"] = new(StatusCodes.Status429TooManyRequests, "Too many requests with this API key (key limit); retry after the time in Retry-After."),
        ["consumer"] = new(StatusCodes.Status429TooManyRequests, "Too many requests from this account across its keys (consumer limit); retry after the time in Retry-After."),
        ["plan"] = new(StatusCodes.Status429TooManyRequests, "Too many requests for this subscription's plan (plan limit); retry after the time in Retry-After."),
    };

    private static readonly ConcurrentDictionary<int, Problem> ByStatus = new()
    {
        [StatusCodes.Status502BadGateway] = new(StatusCodes.Status502BadGateway, "The API's upstream could not be reached."),
        [StatusCodes.Status503ServiceUnavailable] = new(StatusCodes.Status503ServiceUnavailable, "No upstream is available for this request."),
        [StatusCodes.Status504GatewayTimeout] = new(StatusCodes.Status504GatewayTimeout, "The API's upstream did not answer within its timeout."),
        [StatusCodes.Status400BadRequest] = new(StatusCodes.Status400BadRequest, "The request could not be read."),
        [StatusCodes.Status413PayloadTooLarge] = new(StatusCodes.Status413PayloadTooLarge, "The request body is larger than the edge accepts."),
    };

    /// <summary>The problem for a status the proxy chose after a forwarding error.</summary>
    public static Problem ForStatus(int status) =>
        ByStatus.GetOrAdd(status is >= 400 and <= 599 ? status : StatusCodes.Status502BadGateway,
            static s => new Problem(s, "The request could not be forwarded."));

    /// <summary>The 429 of a rate limit: <paramref name="limit"/> is <c>ip</c>, <c>key</c>, <c>consumer</c> or <c>plan</c>.</summary>
    public static Problem RateLimited(string limit) => ByLimit[limit];

    /// <summary>The 429 of an exhausted hard quota, naming the quota and when the cycle resets.</summary>
    public static Problem QuotaExhausted(long monthlyQuota, DateTimeOffset reset) => new(StatusCodes.Status429TooManyRequests,
        string.Create(CultureInfo.InvariantCulture,
            $"The subscription has used its quota of {monthlyQuota} calls for this billing cycle; it resets at {reset.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}."),
        QuotaExhaustedType, "Quota exhausted");

    /// <summary>
    /// Writes <paramref name="problem"/>: as problem+json, or to a gRPC caller (a request whose
    /// content type is <c>application/grpc…</c>) as a gRPC trailers-only answer (<see cref="WriteGrpc"/>).
    /// </summary>
    public static Task WriteAsync(HttpContext context, Problem problem)
    {
        if (IsGrpc(context.Request))
        {
            WriteGrpc(context.Response, problem);
            return Task.CompletedTask;
        }
        var response = context.Response;
        response.StatusCode = problem.Status;
        response.ContentType = ProblemJson;
        response.ContentLength = problem.Body.Length;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = NoSniff;
        if (problem.Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"veil\"";
        }
        return response.Body.WriteAsync(problem.Body, context.RequestAborted).AsTask();
    }

    /// <summary>Whether the caller speaks gRPC (or gRPC-Web): problem+json would mean nothing to it.</summary>
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A gRPC trailers-only answer: HTTP 200, <c>content-type: application/grpc</c>, <c>grpc-status</c>
    /// and <c>grpc-message</c> in the one HEADERS frame, no body. Until the response starts, its
    /// status stays the one the edge decided (401, 429, 504, …), which metering and the request's
    /// metrics read when the call ends; the wire gets 200 as the headers go out, as gRPC requires.
    /// Other headers the step set stay (<c>Retry-After</c> of a 429, <c>WWW-Authenticate</c>).
    /// </summary>
    private static void WriteGrpc(HttpResponse response, Problem problem)
    {
        response.StatusCode = problem.Status;
        response.ContentType = GrpcContentType;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = NoSniff;
        response.Headers[GrpcStatusHeader] = problem.GrpcStatus;
        response.Headers[GrpcMessageHeader] = problem.GrpcMessage;
        if (problem.Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"veil\"";
        }
        response.OnStarting(static state =>
        {
            ((HttpResponse)state).StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        }, response);
    }
}
