using System.Buffers.Binary;
using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;

namespace Veil.ServiceDefaults.Security;

/// <summary>
/// The one rule for which addresses a user-supplied URL may reach (SSRF): only global unicast is
/// public. Every address in an IANA special-purpose block (RFC 6890 and its updates) counts as
/// private, whether or not the registry marks it "globally reachable": loopback, RFC 1918, CGNAT,
/// link-local (cloud metadata), benchmarking, documentation, IETF protocol assignments, 6to4 and
/// NAT64 (both embed an IPv4 address the guard would otherwise not see), IPv4-compatible and
/// IPv4-mapped IPv6 (checked as their IPv4 address), multicast, reserved and broadcast. Names
/// count as private when they are <c>localhost</c> or only some network's own resolver answers
/// them (<see cref="IsInternalName"/>). Catalog checks an upstream URL's host with it, usage a
/// webhook URL's host, and <see cref="GuardedConnect"/> every address a name resolves to when the
/// edge or usage connects.
/// </summary>
public static class PrivateNetworks
{
    /// <summary>The URL's host as a resolver sees it: without IPv6 brackets or a trailing dot.</summary>
    public static string Host(Uri uri) => uri.DnsSafeHost.TrimEnd('.');

    /// <summary>
    /// True for <c>localhost</c> names, private address literals (<see cref="IsPrivate"/>) and
    /// internal names (<see cref="IsInternalName"/>).
    /// </summary>
    public static bool IsPrivateHost(Uri uri)
    {
        var host = Host(uri);
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
            host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return IPAddress.TryParse(host, out var address) ? IsPrivate(address) : IsInternalName(uri.IdnHost.TrimEnd('.'));
    }

    /// <summary>
    /// True for a host name whose last label is not a top-level domain of the DNS root: single
    /// labels ("identity", "metadata") and cluster forms a resolver's search list completes
    /// ("identity.veil" → identity.veil.svc.cluster.local, "catalog.veil.svc"), and private
    /// suffixes (.local, .internal, .localdomain, .home.arpa, .cluster.local). A namespace named
    /// like a real top-level domain ("api.dev") still passes here; <see cref="GuardedConnect"/>
    /// resolves names as absolute and refuses private addresses, which covers it.
    /// </summary>
    /// <param name="host">An ASCII (punycode) host name without a trailing dot.</param>
    public static bool IsInternalName(string host)
    {
        var dot = host.LastIndexOf('.');
        return dot < 0 || !TopLevelDomains.Value.Contains(host[(dot + 1)..]);
    }

    private static readonly Lazy<FrozenSet<string>> TopLevelDomains = new(() =>
    {
        using var stream = typeof(PrivateNetworks).Assembly.GetManifestResourceStream("Veil.ServiceDefaults.Security.top-level-domains.txt")
            ?? throw new InvalidOperationException("The top-level domain list is not embedded.");
        using var reader = new StreamReader(stream);
        var names = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && line[0] != '#')
            {
                names.Add(line);
            }
        }
        return names.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    });

    /// <summary>True unless <paramref name="address"/> is global unicast outside every special-purpose block.</summary>
    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => IsPrivateV4(address),
            AddressFamily.InterNetworkV6 => IsPrivateV6(address),
            _ => true,
        };
    }

    private static bool IsPrivateV4(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        var a = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        foreach (var (prefix, length) in SpecialV4)
        {
            if ((a >> (32 - length)) == (prefix >> (32 - length)))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsPrivateV6(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        var high = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        // Global unicast is 2000::/3. Everything else is special: ::/128, ::1, IPv4-compatible
        // ::/96, 64:ff9b::/96 and 64:ff9b:1::/48 (NAT64), 100::/64 (discard), fc00::/7 (ULA),
        // fe80::/10 (link-local), fec0::/10 (site-local), ff00::/8 (multicast) and the unassigned rest.
        if ((high >> 61) != 0b001)
        {
            return true;
        }
        foreach (var (prefix, length) in SpecialV6)
        {
            if ((high >> (64 - length)) == (prefix >> (64 - length)))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>IPv4 special-purpose blocks (IANA registry), as (prefix, length).</summary>
    private static readonly (uint Prefix, int Length)[] SpecialV4 =
    [
        (0x00000000, 8),    // 0.0.0.0/8       "this network", unspecified
        (0x0A000000, 8),    // 10/8            private
        (0x64400000, 10),   // 100.64/10       carrier-grade NAT (some clouds' metadata)
        (0x7F000000, 8),    // 127/8           loopback
        (0xA9FE0000, 16),   // 169.254/16      link-local (cloud metadata)
        (0xAC100000, 12),   // 172.16/12       private
        (0xC0000000, 24),   // 192.0.0/24      IETF protocol assignments (DS-Lite, NAT64 discovery, …)
        (0xC0000200, 24),   // 192.0.2/24      documentation (TEST-NET-1)
        (0xC0586300, 24),   // 192.88.99/24    6to4 relay anycast (deprecated)
        (0xC0A80000, 16),   // 192.168/16      private
        (0xC6120000, 15),   // 198.18/15       benchmarking
        (0xC6336400, 24),   // 198.51.100/24   documentation (TEST-NET-2)
        (0xCB007100, 24),   // 203.0.113/24    documentation (TEST-NET-3)
        (0xE0000000, 4),    // 224/4           multicast
        (0xF0000000, 4),    // 240/4           reserved, with 255.255.255.255 broadcast
    ];

    /// <summary>Special-purpose blocks inside 2000::/3, as (first 64 bits, length ≤ 64).</summary>
    private static readonly (ulong Prefix, int Length)[] SpecialV6 =
    [
        (0x2001_0000_0000_0000, 23),   // 2001::/23    IETF protocol assignments (Teredo, benchmarking, ORCHID, …)
        (0x2001_0DB8_0000_0000, 32),   // 2001:db8::/32 documentation
        (0x2002_0000_0000_0000, 16),   // 2002::/16    6to4 (embeds an IPv4 address)
        (0x3FFF_0000_0000_0000, 20),   // 3fff::/20    documentation
    ];
}
