using System.Net;
using System.Net.Sockets;

namespace Veil.ServiceDefaults.Security;

/// <summary>Resolves a host name to its addresses: DNS in production, a fixed table in tests.</summary>
public interface IHostResolver
{
    /// <summary>The addresses <paramref name="host"/> resolves to (none when it does not resolve).</summary>
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The system resolver (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>).</summary>
public sealed class DnsHostResolver : IHostResolver
{
    public static readonly DnsHostResolver Instance = new();

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>The guard refused to connect: every address the host resolves to is private.</summary>
public sealed class AddressNotAllowedException(string host, IReadOnlyList<IPAddress> addresses)
    : HttpRequestException(HttpRequestError.ConnectionError,
        "The host resolves only to addresses that are not allowed (loopback, private, link-local or another non-global range).")
{
    /// <summary>The host name or literal that was refused.</summary>
    public string Host { get; } = host;

    /// <summary>What it resolved to (for operators' logs; never shown to the caller who chose the URL).</summary>
    public IReadOnlyList<IPAddress> Addresses { get; } = addresses;

    /// <summary>The refusal behind <paramref name="exception"/> (HttpClient wraps what a connect callback throws), if any.</summary>
    public static AddressNotAllowedException? Find(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is AddressNotAllowedException refused)
            {
                return refused;
            }
        }
        return null;
    }
}

/// <summary>
/// The connect-time half of the SSRF rule, for every client that calls a URL a user chose (the
/// edge's API upstreams, usage's webhooks): a <see cref="SocketsHttpHandler.ConnectCallback"/>
/// that resolves the host itself, drops every address <see cref="PrivateNetworks.IsPrivate"/>
/// refuses, and connects only to the addresses it checked. Checking the URL's name alone is not
/// enough: a public name may resolve to 127.0.0.1 or 169.254.169.254, or change to it later
/// (DNS rebinding), and the handler would connect wherever it points.
/// </summary>
public static class GuardedConnect
{
    /// <summary>
    /// The callback. Guarded, it asks for the name as absolute ("api.dev." rather than "api.dev"),
    /// so no resolver search list completes it: in a cluster ("ndots:5", "&lt;ns&gt;.svc.cluster.local")
    /// "api.dev" is service <c>api</c> of namespace <c>dev</c>. With <paramref name="allowPrivate"/>
    /// (local fleets and tests only) it resolves the name as given, hosts file included, and
    /// connects to any address.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> Create(IHostResolver resolver, bool allowPrivate) =>
        async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host, out var literal)
                ? [literal]
                : await resolver.ResolveAsync(allowPrivate || host.EndsWith('.') ? host : host + ".", cancellationToken);
            var allowed = allowPrivate ? addresses : Array.FindAll(addresses, a => !PrivateNetworks.IsPrivate(a));
            if (allowed.Length == 0)
            {
                throw addresses.Length == 0
                    ? new HttpRequestException(HttpRequestError.NameResolutionError, $"The host '{host}' did not resolve.")
                    : new AddressNotAllowedException(host, addresses);
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
