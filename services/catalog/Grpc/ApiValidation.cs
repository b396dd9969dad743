using System.Text;
using System.Text.RegularExpressions;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

/// <summary>
/// Field rules for API configs. Each method records its violations in a shared
/// <see cref="FieldViolations"/> so a request learns about every bad field at once.
/// Field names are the proto field names.
/// </summary>
internal static partial class ApiValidation
{
    public const int DefaultTimeoutMs = 30_000;
    public const int MinTimeoutMs = 100;
    public const int MaxTimeoutMs = 120_000;
    public const int MaxNameLength = 100;
    public const int MaxDescriptionLength = 10_000;
    public const int MaxOpenApiBytes = 1024 * 1024;
    public const int MaxUpstreamUrlLength = 2048;

    /// <summary>
    /// First path segments the edge serves itself: the management API (<c>/v1/…</c>, and future
    /// <c>/v2/…</c>), OpenAPI, health, metrics, docs and admin. An API may not shadow them.
    /// </summary>
    private static readonly HashSet<string> ReservedSlugs = new(StringComparer.Ordinal)
    {
        "openapi", "health", "alive", "metrics", "api", "apis", "admin", "docs",
    };

    public static void Slug(FieldViolations errors, string slug)
    {
        if (slug.Length is < 3 or > 63)
        {
            errors.Add("slug", "Must be 3 to 63 characters.");
        }
        else if (!SlugPattern().IsMatch(slug))
        {
            errors.Add("slug", "Use lower-case letters, digits and single hyphens, starting with a letter and not ending with a hyphen.");
        }
        else if (ReservedSlugs.Contains(slug) || VersionSegment().IsMatch(slug))
        {
            errors.Add("slug", $"'{slug}' is reserved: the edge serves its own endpoints under that path.");
        }
    }

    public static void Name(FieldViolations errors, string name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name", "Required.");
        }
        else if (name.Length > MaxNameLength)
        {
            errors.Add("name", $"Must be at most {MaxNameLength} characters.");
        }
    }

    public static void Description(FieldViolations errors, string description)
    {
        if (description.Length > MaxDescriptionLength)
        {
            errors.Add("description", $"Must be at most {MaxDescriptionLength} characters.");
        }
    }

    /// <summary>0 means the default; anything else must be in range. Returns the effective value.</summary>
    public static int TimeoutMs(FieldViolations errors, int timeoutMs)
    {
        if (timeoutMs == 0)
        {
            return DefaultTimeoutMs;
        }
        if (timeoutMs is < MinTimeoutMs or > MaxTimeoutMs)
        {
            errors.Add("timeout_ms", $"Must be 0 (default {DefaultTimeoutMs}) or {MinTimeoutMs} to {MaxTimeoutMs}.");
        }
        return timeoutMs;
    }

    public static void OpenApiDocument(FieldViolations errors, string document)
    {
        // Cheap bound first: a UTF-8 byte is at most 3 per UTF-16 char for BMP text.
        if (document.Length > MaxOpenApiBytes || (document.Length > MaxOpenApiBytes / 3 && Encoding.UTF8.GetByteCount(document) > MaxOpenApiBytes))
        {
            errors.Add("openapi_document", "Must be at most 1 MiB (UTF-8).");
        }
    }

    /// <summary>
    /// An absolute http(s) URL with a host, no user info and no fragment; with
    /// <paramref name="allowPrivate"/> false, also no host <see cref="PrivateNetworks.IsPrivateHost"/>
    /// refuses: an address literal outside global unicast, <c>localhost</c>, or a name that is not
    /// under a top-level domain (single labels, cluster <c>name.namespace</c> forms, .internal, …).
    /// Names that merely resolve to private addresses are the edge's to refuse at connect time
    /// (see docs/catalog.md).
    /// </summary>
    public static void UpstreamUrl(FieldViolations errors, string value, bool allowPrivate, string field = "upstream_url")
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add(field, "Required.");
            return;
        }
        if (value.Length > MaxUpstreamUrlLength)
        {
            errors.Add(field, $"Must be at most {MaxUpstreamUrlLength} characters.");
            return;
        }
        if (value != value.Trim() || !Uri.TryCreate(value, UriKind.Absolute, out var uri))
        {
            errors.Add(field, "Must be an absolute URL, e.g. https://api.example.com/v1.");
            return;
        }
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add(field, "The scheme must be http or https.");
        }
        if (string.IsNullOrEmpty(uri.Host))
        {
            errors.Add(field, "A host is required.");
        }
        if (!string.IsNullOrEmpty(uri.UserInfo) || RawAuthority(value).Contains('@', StringComparison.Ordinal))
        {
            errors.Add(field, "Credentials in the URL are not allowed; upstream credentials are stored separately.");
        }
        if (value.Contains('#', StringComparison.Ordinal))
        {
            errors.Add(field, "A fragment (#…) is not allowed.");
        }
        if (!allowPrivate && PrivateNetworks.IsPrivateHost(uri))
        {
            errors.Add(field, "The upstream must be a public host: a name under a public top-level domain (e.g. api.example.com) or a global unicast address. " +
                "Loopback, private, link-local and other special-purpose addresses, localhost, and internal names (single labels such as 'identity', " +
                "cluster names such as 'identity.veil', .internal, .local) are not allowed.");
        }
    }

    /// <summary>The text between "://" and the first '/', '?' or '#' (an empty "@" leaves UserInfo empty).</summary>
    private static string RawAuthority(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal);
        if (start < 0)
        {
            return "";
        }
        start += 3;
        var end = url.IndexOfAny(['/', '?', '#'], start);
        return end < 0 ? url[start..] : url[start..end];
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();

    [GeneratedRegex("^v[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex VersionSegment();
}
