namespace Veil.ServiceDefaults.Security;

/// <summary>
/// What a CORS policy may say (docs/cors.md): one rule for catalog, which refuses a bad API policy
/// with field errors, and the edge, which checks an API's policy again before it applies a config
/// and its own <c>Edge:ManagementCors</c> at start.
/// </summary>
public static class CorsRules
{
    /// <summary>Most origins in one policy.</summary>
    public const int MaxOrigins = 32;

    /// <summary>Most names in each header list (allowed, exposed).</summary>
    public const int MaxHeaders = 32;

    /// <summary>Longest preflight cache time, in seconds (browsers cap it lower anyway).</summary>
    public const int MaxAgeSecondsLimit = 86400;

    /// <summary>The preflight cache time when the policy leaves it unset.</summary>
    public const int DefaultMaxAgeSeconds = 3600;

    /// <summary>The origin entry that allows every origin (never with credentials).</summary>
    public const string AnyOrigin = "*";

    /// <summary>The methods a policy may allow: the edge's API methods, in upper case.</summary>
    public static readonly IReadOnlyList<string> Methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    /// <summary>The methods allowed when an API policy lists none.</summary>
    public static readonly IReadOnlyList<string> DefaultMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

    /// <summary>The request headers allowed when an API policy lists none.</summary>
    public static readonly IReadOnlyList<string> DefaultHeaders = ["Authorization", "Content-Type", "X-Api-Key"];

    private const int MaxOriginLength = 253 + 14;

    /// <summary>
    /// Why <paramref name="origin"/> cannot be an allowed origin, or null when it can:
    /// <c>https://host[:port]</c>, a pattern <c>https://*.host[:port]</c> whose <c>*</c> stands for
    /// one DNS label, or <c>http://localhost[:port]</c> for development. No path, query or user info;
    /// host names in lower case (IDNs in their <c>xn--</c> form), as browsers send them.
    /// </summary>
    public static string? OriginProblem(string origin)
    {
        if (origin.Length == 0 || origin.Length > MaxOriginLength)
        {
            return "Must be an origin such as \"https://app.example.com\", up to 267 characters.";
        }
        string rest;
        var secure = origin.StartsWith("https://", StringComparison.Ordinal);
        if (secure)
        {
            rest = origin["https://".Length..];
        }
        else if (origin.StartsWith("http://", StringComparison.Ordinal))
        {
            rest = origin["http://".Length..];
        }
        else
        {
            return $"'{origin}' is not an https origin (scheme in lower case, e.g. \"https://app.example.com\").";
        }
        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        var host = colon < 0 ? rest : rest[..colon];
        if (colon >= 0 && !IsPort(rest[(colon + 1)..]))
        {
            return $"'{origin}' is not scheme://host[:port]: no path, query, trailing slash or user info, a port of 1 to 65535.";
        }
        if (!secure)
        {
            return host == "localhost"
                ? null
                : $"'{origin}' is not secure: only https origins, or http://localhost[:port] for development.";
        }
        var wildcard = host.StartsWith("*.", StringComparison.Ordinal);
        var name = wildcard ? host[2..] : host;
        if (!IsHostName(name))
        {
            return $"'{origin}' is not scheme://host[:port] with a lower-case host name (no path, query, trailing slash, user info or IP address; a * only as the whole first label).";
        }
        if (wildcard && !name.Contains('.', StringComparison.Ordinal))
        {
            return $"'{origin}' is too wide: a pattern needs at least two labels after \"*.\" (e.g. \"https://*.example.com\").";
        }
        return null;
    }

    /// <summary>True for an origin pattern (<c>https://*.example.com</c>); only meaningful for origins <see cref="OriginProblem"/> accepts.</summary>
    public static bool IsPattern(string origin) => origin.StartsWith("https://*.", StringComparison.Ordinal);

    /// <summary>True when <paramref name="name"/> may be a header name in a policy (an HTTP token).</summary>
    public static bool IsHeaderName(string name) => UpstreamCredentialNames.IsHeaderToken(name) && name.Length <= 128;

    /// <summary>
    /// Whether <paramref name="origin"/> (a request's <c>Origin</c>) matches <paramref name="pattern"/>
    /// (<c>https://*.example.com[:port]</c>): the same scheme and port, and a host that is exactly one
    /// label before the pattern's domain. <c>https://evil-example.com</c> and
    /// <c>https://a.b.example.com</c> do not match <c>https://*.example.com</c>.
    /// </summary>
    public static bool MatchesPattern(string origin, string pattern)
    {
        // pattern = "https://*" + suffix, suffix = ".example.com[:port]".
        var suffix = pattern.AsSpan("https://*".Length);
        if (!origin.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ||
            !origin.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var label = origin.AsSpan("https://".Length, origin.Length - "https://".Length - suffix.Length);
        if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
        {
            return false;
        }
        foreach (var c in label)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsPort(string port) =>
        port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && port[0] != '0' && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) <= 65535;

    private static bool IsHostName(string host)
    {
        if (host.Length is 0 or > 253)
        {
            return false;
        }
        var labels = host.Split('.');
        // The last label has a letter: no IP addresses.
        return labels.All(IsLabel) && labels[^1].Any(char.IsAsciiLetterLower);
    }

    private static bool IsLabel(string label) =>
        label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' &&
        label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
}
