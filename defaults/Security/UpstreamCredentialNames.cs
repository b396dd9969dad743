namespace Veil.ServiceDefaults.Security;

/// <summary>
/// Which names a provider's upstream credential may carry (docs/policies.md): one rule for
/// catalog, which refuses a bad policy with field errors, and the edge, which checks again before
/// it applies a config.
/// </summary>
public static class UpstreamCredentialNames
{
    /// <summary>
    /// Headers a credential may not set: hop-by-hop headers (they end at the next hop), the message
    /// framing ones, and those the edge itself states or strips (the consumer's key, the request id,
    /// trace context, the client-address and original-URL headers).
    /// </summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Expect", "X-Api-Key", "X-Request-Id", "traceparent", "tracestate",
        "Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "CF-Connecting-IP",
    };

    private static readonly string[] ReservedHeaderPrefixes = ["X-Veil-", "X-Forwarded-", "X-Original-", "Content-"];

    /// <summary>True when <paramref name="name"/> is an HTTP token (RFC 9110 tchar only).</summary>
    public static bool IsHeaderToken(string name) => name.Length > 0 && name.All(IsTokenChar);

    /// <summary>True when <paramref name="name"/> is a header Veil keeps for itself or the transport.</summary>
    public static bool IsReservedHeader(string name) =>
        ReservedHeaders.Contains(name) || ReservedHeaderPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>True when <paramref name="name"/> is a query parameter name of URL-safe characters only.</summary>
    public static bool IsQueryName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~');

    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
