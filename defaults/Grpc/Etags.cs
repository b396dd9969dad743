using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// Optimistic concurrency (AIP-154) for resources that carry an <c>etag</c>: a read answers the
/// etag; an update may name the etag it was based on, in the request's <c>etag</c> field or, over
/// REST, the <c>If-Match</c> header; when the resource has changed since, the update is refused
/// with <c>Aborted</c> (REST 409) instead of silently overwriting the other change. An update
/// naming no etag (or <c>If-Match: *</c>) applies as before.
/// </summary>
public static class Etags
{
    private const string IfMatchHeader = "if-match";

    /// <summary>
    /// An opaque etag of a resource's state: 16 hex characters of SHA-256 over
    /// <paramref name="parts"/> (e.g. id, version, update time). Equal parts, equal etag.
    /// </summary>
    public static string Of(params object[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', parts))).AsSpan(0, 8));

    /// <summary>
    /// The etag the update is based on: the request's <paramref name="etagField"/> when set, else
    /// the <c>If-Match</c> header (quotes and a weak <c>W/</c> prefix ignored); null for neither or
    /// <c>*</c> (any state). Both set and different is <c>InvalidArgument</c> on <c>etag</c>.
    /// </summary>
    public static string? Expected(ServerCallContext context, string? etagField)
    {
        var header = context.RequestHeaders.GetValue(IfMatchHeader) is { } raw ? Unquote(raw) : null;
        var field = string.IsNullOrEmpty(etagField) ? null : Unquote(etagField);
        if (field is not null && header is not null && header != "*" && field != header)
        {
            throw RpcErrors.InvalidArgument("etag", $"The etag field ('{field}') and the If-Match header ('{header}') disagree: send one.");
        }
        var expected = field ?? header;
        return expected is null or "*" ? null : expected;
    }

    /// <summary>
    /// Throws <c>Aborted</c> (REST 409) when <paramref name="expected"/> is set and is not
    /// <paramref name="current"/>: <paramref name="what"/> changed since the caller read it.
    /// </summary>
    public static void ThrowIfStale(string? expected, string current, string what)
    {
        if (expected is not null && !string.Equals(expected, current, StringComparison.Ordinal))
        {
            throw RpcErrors.Aborted(
                $"{what} has changed since it was read (etag '{expected}', now '{current}'). Read it again, reapply your change and send the new etag.");
        }
    }

    /// <summary>
    /// Answers <paramref name="etag"/> as the <c>ETag</c> response header too (quoted, RFC 9110),
    /// so a REST client can send it back as <c>If-Match</c> without reading the body.
    /// </summary>
    public static void SetHeader(ServerCallContext context, string etag)
    {
        if (etag.Length > 0 && context.GetHttpContext() is { Response.HasStarted: false } http)
        {
            http.Response.Headers.ETag = $"\"{etag}\"";
        }
    }

    private static string Unquote(string value)
    {
        var text = value.Trim();
        if (text.StartsWith("W/", StringComparison.Ordinal))
        {
            text = text[2..];
        }
        return text.Length >= 2 && text[0] == '"' && text[^1] == '"' ? text[1..^1] : text;
    }
}
