namespace Veil.ServiceDefaults.Security;

/// <summary>
/// What a per-API transform may do (docs/transforms.md): one rule for catalog, which refuses a bad
/// policy with field errors, and the edge, which checks again before it applies a config. Values
/// are templates: literal text with the placeholders <c>{consumer_id}</c>, <c>{plan_id}</c> and
/// <c>{request_id}</c>, split once (<see cref="Parse"/>), filled per call.
/// </summary>
public static class HeaderTransformRules
{
    /// <summary>Most header transforms on each side (request, response).</summary>
    public const int MaxHeaderTransforms = 20;

    /// <summary>Longest value (the template, before placeholders are filled).</summary>
    public const int MaxValueLength = 1024;

    /// <summary>Longest path prefix.</summary>
    public const int MaxPathPrefixLength = 256;

    /// <summary>The actions, in the order of the docs.</summary>
    public static readonly IReadOnlyList<string> Actions = ["set", "append", "remove"];

    /// <summary>The placeholders a value may contain.</summary>
    public static readonly IReadOnlyList<string> Placeholders = ["{consumer_id}", "{plan_id}", "{request_id}"];

    /// <summary>
    /// Response headers the edge states itself or that CORS owns, beyond
    /// <see cref="UpstreamCredentialNames.IsReservedHeader"/>: a response transform may not touch
    /// them (the request id, rate-limit and retry advice, nosniff, cookies on the edge's shared
    /// domain, the CORS answer).
    /// </summary>
    private static readonly HashSet<string> ReservedResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Set-Cookie", "Retry-After", "X-Content-Type-Options",
    };

    private static readonly string[] ReservedResponsePrefixes = ["RateLimit", "Access-Control-"];

    /// <summary>True when a request transform may not name <paramref name="name"/> (hop-by-hop, framing, Veil's own).</summary>
    public static bool IsReservedRequestHeader(string name) => UpstreamCredentialNames.IsReservedHeader(name);

    /// <summary>True when a response transform may not name <paramref name="name"/>.</summary>
    public static bool IsReservedResponseHeader(string name) =>
        UpstreamCredentialNames.IsReservedHeader(name) || ReservedResponseHeaders.Contains(name) ||
        ReservedResponsePrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Why <paramref name="value"/> cannot be a set or append value, or null: 1 to
    /// <see cref="MaxValueLength"/> characters, visible ASCII and spaces (no leading or trailing
    /// space), braces only around a known placeholder.
    /// </summary>
    public static string? ValueProblem(string value)
    {
        if (value.Length is 0 or > MaxValueLength)
        {
            return $"Must be 1 to {MaxValueLength} characters for set and append (use remove to drop a header).";
        }
        if (value[0] == ' ' || value[^1] == ' ')
        {
            return "Must not start or end with a space.";
        }
        if (value.Any(c => c is < ' ' or > '~'))
        {
            return "Only visible ASCII characters and spaces (no control characters, no line breaks, no non-ASCII).";
        }
        return Parse(value) is null
            ? $"Braces are only allowed around a placeholder: {string.Join(", ", Placeholders)}."
            : null;
    }

    /// <summary>
    /// Why <paramref name="prefix"/> cannot be a path prefix, or null: starts with <c>/</c>, at most
    /// <see cref="MaxPathPrefixLength"/> characters of letters, digits and <c>-._~!$&amp;'()*+,;=:@/</c>,
    /// no empty, <c>.</c> or <c>..</c> segment, no trailing <c>/</c>.
    /// </summary>
    public static string? PathPrefixProblem(string prefix)
    {
        if (prefix.Length > MaxPathPrefixLength || prefix.Length < 2 || prefix[0] != '/')
        {
            return $"Must start with \"/\" and be 2 to {MaxPathPrefixLength} characters, e.g. \"/v2\".";
        }
        if (!prefix.All(c => char.IsAsciiLetterOrDigit(c) || "-._~!$&'()*+,;=:@/".Contains(c)))
        {
            return "Only letters, digits and -._~!$&'()*+,;=:@/ (no query, fragment, percent-encoding or spaces).";
        }
        if (prefix[1..].Split('/').Any(s => s is "" or "." or ".."))
        {
            return "No empty, \".\" or \"..\" segment and no trailing \"/\".";
        }
        return null;
    }

    /// <summary>One part of a value: literal text, or a placeholder (Text is then its name, e.g. "{plan_id}").</summary>
    public readonly record struct Part(string Text, bool IsPlaceholder);

    /// <summary>
    /// Splits <paramref name="value"/> into literal text and placeholders, or null when a brace is not
    /// part of a known placeholder.
    /// </summary>
    public static IReadOnlyList<Part>? Parse(string value)
    {
        var parts = new List<Part>();
        var literal = 0;
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '}')
            {
                return null;
            }
            if (value[i] != '{')
            {
                continue;
            }
            var end = value.IndexOf('}', i);
            var name = end < 0 ? null : value[i..(end + 1)];
            if (name is null || !Placeholders.Contains(name, StringComparer.Ordinal))
            {
                return null;
            }
            if (i > literal)
            {
                parts.Add(new Part(value[literal..i], false));
            }
            parts.Add(new Part(name, true));
            i = end;
            literal = end + 1;
        }
        if (literal < value.Length)
        {
            parts.Add(new Part(value[literal..], false));
        }
        return parts;
    }
}
