using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Which URLs a consumer may point a webhook at: an absolute http(s) URL with a host, no
/// credentials, no fragment and, unless <see cref="UsageOptions.AllowPrivateWebhooks"/>, no
/// <c>localhost</c> and no address literal outside global unicast (<see cref="PrivateNetworks"/>,
/// the rule catalog's upstreams and the edge follow too). The rule is checked twice: on the URL
/// when it is set, and on every address the name resolves to when the dispatcher connects
/// (<see cref="GuardedConnect"/>: a public name may resolve to a private address, or change to one later).
/// </summary>
internal static class WebhookTargets
{
    public const int MaxUrlLength = 2048;
    public const int MinSecretLength = 16;
    public const int MaxSecretLength = 256;

    /// <summary>Records what is wrong with <paramref name="url"/> under the proto field name <c>url</c>.</summary>
    public static void CheckUrl(FieldViolations errors, string url, bool allowPrivate)
    {
        const string Field = "url";
        if (string.IsNullOrWhiteSpace(url))
        {
            errors.Add(Field, "Required.");
            return;
        }
        if (url.Length > MaxUrlLength)
        {
            errors.Add(Field, $"Must be at most {MaxUrlLength} characters.");
            return;
        }
        if (url != url.Trim() || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            errors.Add(Field, "Must be an absolute URL, e.g. https://hooks.example.com/veil.");
            return;
        }
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add(Field, "The scheme must be http or https.");
            return;
        }
        if (string.IsNullOrEmpty(uri.Host))
        {
            errors.Add(Field, "A host is required.");
        }
        if (!string.IsNullOrEmpty(uri.UserInfo) || RawAuthority(url).Contains('@', StringComparison.Ordinal))
        {
            errors.Add(Field, "Credentials in the URL are not allowed.");
        }
        if (url.Contains('#', StringComparison.Ordinal))
        {
            errors.Add(Field, "A fragment (#…) is not allowed.");
        }
        if (!allowPrivate && PrivateNetworks.IsPrivateHost(uri))
        {
            errors.Add(Field, "Only public (global unicast) addresses are allowed as webhook targets: no loopback, private, link-local, reserved or other special-purpose address, and no localhost.");
        }
    }

    /// <summary>The text between "://" and the first '/', '?' or '#' (an empty "@" leaves UserInfo empty).</summary>
    private static string RawAuthority(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        var end = url.IndexOfAny(['/', '?', '#'], start);
        return end < 0 ? url[start..] : url[start..end];
    }

    public static void CheckSecret(FieldViolations errors, string secret)
    {
        if (secret.Length is < MinSecretLength or > MaxSecretLength)
        {
            errors.Add("secret", $"Must be {MinSecretLength} to {MaxSecretLength} characters.");
        }
    }
}
