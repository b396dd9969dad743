using System.Net;
using System.Net.Sockets;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Which URLs a consumer may point a webhook at. The same SSRF rule as catalog's upstreams: an
/// absolute http(s) URL with a host, no credentials, no fragment and, unless
/// <see cref="UsageOptions.AllowPrivateWebhooks"/>, no loopback, private, link-local or
/// unspecified address and no <c>localhost</c>. The rule is checked twice: on the URL when it is
/// set, and on every address the name resolves to when the dispatcher connects (a public name
/// may resolve to a private address, or change to one later).
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
            errors.Add(Field, "Loopback, private, link-local and unspecified addresses and localhost are not allowed as webhook targets.");
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

    /// <summary>
    /// The dispatcher's connection factory: resolves the host itself and connects only to
    /// addresses the rule allows, so DNS cannot smuggle a request to an internal address.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> GuardedConnect(bool allowPrivate) =>
        async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host, out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(host, cancellationToken);
            var allowed = allowPrivate ? addresses : addresses.Where(a => !PrivateNetworks.IsPrivate(a)).ToArray();
            if (allowed.Length == 0)
            {
                throw new HttpRequestException(addresses.Length == 0
                    ? "The webhook host did not resolve."
                    : "The webhook host resolves only to private addresses, which are not allowed.");
            }
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
}
