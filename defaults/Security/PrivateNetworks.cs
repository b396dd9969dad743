using System.Net;
using System.Net.Sockets;

namespace Veil.ServiceDefaults.Security;

/// <summary>
/// The one rule for which hosts and addresses are private, behind every check that keeps a
/// user-supplied URL from reaching the inside (SSRF): catalog's upstream URLs and usage's webhooks.
/// </summary>
public static class PrivateNetworks
{
    /// <summary>The URL's host as a resolver sees it: without IPv6 brackets or a trailing dot.</summary>
    public static string Host(Uri uri) => uri.DnsSafeHost.TrimEnd('.');

    /// <summary>True for <c>localhost</c> names and private address literals (<see cref="IsPrivate"/>).</summary>
    public static bool IsPrivateHost(Uri uri)
    {
        var host = Host(uri);
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
            host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return IPAddress.TryParse(host, out var address) && IsPrivate(address);
    }

    /// <summary>Loopback, private (RFC 1918, ULA), link-local, carrier-grade NAT or unspecified.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address))
        {
            return true;
        }
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return bytes[0] == 0                                   // 0.0.0.0/8, "this network" and unspecified
                || bytes[0] == 10                                  // 10/8
                || bytes[0] == 127                                 // 127/8
                || (bytes[0] == 100 && (bytes[1] & 0xC0) == 64)    // 100.64/10 (carrier-grade NAT; some clouds' metadata)
                || (bytes[0] == 172 && (bytes[1] & 0xF0) == 16)    // 172.16/12
                || (bytes[0] == 192 && bytes[1] == 168)            // 192.168/16
                || (bytes[0] == 169 && bytes[1] == 254);           // 169.254/16 (cloud metadata)
        }
        return address.Equals(IPAddress.IPv6Any)                   // ::
            || (bytes[0] & 0xFE) == 0xFC                           // fc00::/7
            || address.IsIPv6LinkLocal                             // fe80::/10
            || address.IsIPv6SiteLocal;                            // fec0::/10 (deprecated, still private)
    }
}
