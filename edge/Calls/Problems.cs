using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Veil.Edge.Pipeline;

/// <summary>A ready-made <c>application/problem+json</c> answer: the body is serialized once.</summary>
internal sealed class Problem
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Problem(int status, string detail, string? type = null)
    {
        Status = status;
        Body = JsonSerializer.SerializeToUtf8Bytes(new ProblemDetails
        {
            Type = type ?? $"https://veil.dev/problems/{status}",
            Title = ReasonPhrases.GetReasonPhrase(status),
            Status = status,
            Detail = detail,
        }, Json);
    }

    public int Status { get; }

    public byte[] Body { get; }
}

/// <summary>
/// Every error the edge itself answers. Bodies are constant (no trace id, no echo of the request),
/// so e.g. all invalid keys get byte-identical answers; the request id travels in X-Request-Id.
/// </summary>
internal static class Problems
{
    private const string ProblemJson = "application/problem+json";
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

    public static Task WriteAsync(HttpContext context, Problem problem)
    {
        var response = context.Response;
        response.StatusCode = problem.Status;
        response.ContentType = ProblemJson;
        response.ContentLength = problem.Body.Length;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = EdgeResponseTransform.NoSniff;
        if (problem.Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"veil\"";
        }
        return response.Body.WriteAsync(problem.Body, context.RequestAborted).AsTask();
    }
}
