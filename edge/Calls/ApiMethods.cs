namespace Veil.Edge.Calls;

/// <summary>
/// The methods an API call may use: the ones usage meters, each under one spelling. HTTP methods
/// are case-sensitive tokens, but a client's <c>get</c> means GET to every upstream framework; the
/// edge forwards and meters it as <c>GET</c>, so it is counted, billed and held to the quota like
/// any other call. Any other method (TRACE, CONNECT, WebDAV's, made-up ones) is refused with 405.
/// </summary>
internal static class ApiMethods
{
    /// <summary>The <c>Allow</c> header of the 405.</summary>
    public const string Allow = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

    /// <summary>The canonical (upper-case, interned) spelling of <paramref name="method"/>, or null when it is not an API method.</summary>
    public static string? Canonicalize(string method)
    {
        // Kestrel hands a known method sent in upper case as the HttpMethods constant itself.
        if (ReferenceEquals(method, HttpMethods.Get) || ReferenceEquals(method, HttpMethods.Post) ||
            ReferenceEquals(method, HttpMethods.Put) || ReferenceEquals(method, HttpMethods.Delete) ||
            ReferenceEquals(method, HttpMethods.Patch) || ReferenceEquals(method, HttpMethods.Head) ||
            ReferenceEquals(method, HttpMethods.Options))
        {
            return method;
        }
        var canonical = method.Length switch
        {
            3 => Pick(method, HttpMethods.Get, HttpMethods.Put),
            4 => Pick(method, HttpMethods.Post, HttpMethods.Head),
            5 => Pick(method, HttpMethods.Patch, null),
            6 => Pick(method, HttpMethods.Delete, null),
            7 => Pick(method, HttpMethods.Options, null),
            _ => null,
        };
        return canonical;
    }

    /// <summary>
    /// Marks a HEAD the client spelled otherwise (<c>head</c>). Kestrel decides from the request line
    /// alone whether a response has a body, so it takes that call for a method with one; see
    /// <see cref="EdgeResponseTransform"/>.
    /// </summary>
    internal sealed class RespelledHead
    {
        public static readonly RespelledHead Instance = new();
    }

    private static string? Pick(string method, string first, string? second) =>
        method.Equals(first, StringComparison.OrdinalIgnoreCase) ? first
        : second is not null && method.Equals(second, StringComparison.OrdinalIgnoreCase) ? second
        : null;
}
