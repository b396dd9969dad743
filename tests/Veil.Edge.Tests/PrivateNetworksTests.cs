using System.Net;
using Veil.ServiceDefaults.Security;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The one SSRF rule (defaults/Security/PrivateNetworks.cs) that catalog, usage and the edge
/// share: only global unicast addresses and names under a delegated top-level domain are public.
/// </summary>
public sealed class PrivateNetworksTests
{
    [Theory]
    [InlineData("0.0.0.0")]                 // unspecified, "this network"
    [InlineData("0.1.2.3")]
    [InlineData("10.0.0.1")]                // RFC 1918
    [InlineData("100.64.0.1")]              // CGNAT
    [InlineData("100.100.100.200")]         // CGNAT (Alibaba metadata)
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("169.254.169.254")]         // link-local, cloud metadata
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.1")]               // IETF protocol assignments
    [InlineData("192.0.0.170")]             // NAT64 discovery
    [InlineData("192.0.2.1")]               // TEST-NET-1
    [InlineData("192.88.99.1")]             // 6to4 relay anycast
    [InlineData("192.168.1.10")]
    [InlineData("198.18.0.1")]              // benchmarking 198.18/15, low
    [InlineData("198.19.255.254")]          // benchmarking, high
    [InlineData("198.51.100.7")]            // TEST-NET-2
    [InlineData("203.0.113.9")]             // TEST-NET-3
    [InlineData("224.0.0.1")]               // multicast
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]               // reserved 240/4
    [InlineData("255.255.255.255")]         // broadcast
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::127.0.0.1")]             // IPv4-compatible IPv6
    [InlineData("::8.8.8.8")]               // IPv4-compatible, even of a public address (deprecated form)
    [InlineData("::ffff:127.0.0.1")]        // IPv4-mapped loopback
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::7f00:1")]         // NAT64 of 127.0.0.1
    [InlineData("64:ff9b::a9fe:a9fe")]      // NAT64 of 169.254.169.254
    [InlineData("64:ff9b:1::1")]            // local-use NAT64
    [InlineData("100::1")]                  // discard-only
    [InlineData("2001::1")]                 // Teredo
    [InlineData("2001:2::1")]               // benchmarking
    [InlineData("2001:db8::1")]             // documentation
    [InlineData("2002:7f00:1::1")]          // 6to4 of 127.0.0.1
    [InlineData("2002:a9fe:a9fe::1")]       // 6to4 of 169.254.169.254
    [InlineData("3fff::1")]                 // documentation (RFC 9637)
    [InlineData("fc00::1")]                 // ULA
    [InlineData("fd12:3456::1")]
    [InlineData("fe80::1")]                 // link-local
    [InlineData("fec0::1")]                 // site-local (deprecated)
    [InlineData("ff02::1")]                 // multicast
    [InlineData("fd00:ec2::254")]           // AWS IMDS over IPv6 (ULA)
    public void IsPrivate_SpecialPurposeAddress_True(string address) =>
        Assert.True(PrivateNetworks.IsPrivate(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("100.63.255.255")]          // just below CGNAT
    [InlineData("100.128.0.1")]             // just above CGNAT
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("192.0.1.1")]
    [InlineData("192.169.0.1")]
    [InlineData("198.17.255.255")]          // just below benchmarking
    [InlineData("198.20.0.1")]              // just above benchmarking
    [InlineData("223.255.255.254")]         // last unicast /8 before multicast
    [InlineData("::ffff:8.8.8.8")]          // IPv4-mapped public address
    [InlineData("2606:4700::1")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("2001:200::1")]             // just above 2001::/23
    [InlineData("2003::1")]
    [InlineData("3ffe::1")]
    public void IsPrivate_GlobalUnicast_False(string address) =>
        Assert.False(PrivateNetworks.IsPrivate(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("identity")]                // single label: search list or cluster service
    [InlineData("metadata")]
    [InlineData("identity.veil")]           // name.namespace → identity.veil.svc.cluster.local
    [InlineData("catalog.veil.svc")]
    [InlineData("catalog.veil.svc.cluster.local")]
    [InlineData("metadata.google.internal")]
    [InlineData("printer.local")]
    [InlineData("nas.localdomain")]
    [InlineData("router.home.arpa")]
    [InlineData("1.0.0.127.in-addr.arpa")]
    public void IsInternalName_NotUnderATopLevelDomain_True(string host) =>
        Assert.True(PrivateNetworks.IsInternalName(host), host);

    [Theory]
    [InlineData("api.example.com")]
    [InlineData("example.com")]
    [InlineData("weather.example.co.uk")]
    [InlineData("API.EXAMPLE.IO")]
    [InlineData("api.example.xn--p1ai")]    // .рф
    public void IsInternalName_UnderATopLevelDomain_False(string host) =>
        Assert.False(PrivateNetworks.IsInternalName(host), host);

    [Theory]
    [InlineData("http://localhost:5900", true)]
    [InlineData("http://weather.localhost", true)]
    [InlineData("http://identity:5101", true)]
    [InlineData("http://identity.veil:5101", true)]
    [InlineData("http://[64:ff9b::7f00:1]/", true)]
    [InlineData("http://2130706433/", true)]             // decimal 127.0.0.1
    [InlineData("http://api.example.com./v1", false)]    // absolute name, trailing dot
    [InlineData("https://api.example.com", false)]
    [InlineData("http://пример.рф", false)]
    [InlineData("https://[2606:4700::1]:8443/", false)]
    public void IsPrivateHost_Url(string url, bool isPrivate) =>
        Assert.Equal(isPrivate, PrivateNetworks.IsPrivateHost(new Uri(url)));
}

/// <summary>The connect-time guard on its own, as usage's webhook client and the edge use it.</summary>
public sealed class GuardedConnectTests
{
    [Fact]
    public async Task Connect_NameResolvesOnlyToPrivate_RefusedWithoutConnecting()
    {
        var resolver = new TableHostResolver(new Dictionary<string, IPAddress[]>
        {
            ["hooks.example.com"] = [IPAddress.Loopback, IPAddress.Parse("169.254.169.254"), IPAddress.Parse("64:ff9b::7f00:1")],
        });
        await using var upstream = await EchoUpstream.StartAsync(TestContext.Current.CancellationToken);
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = GuardedConnect.Create(resolver, allowPrivate: false) });

        var error = await Assert.ThrowsAsync<HttpRequestException>(() =>
            http.GetAsync($"http://hooks.example.com:{upstream.Url.Port}/hook", TestContext.Current.CancellationToken));

        var refused = AddressNotAllowedException.Find(error);
        Assert.NotNull(refused);
        Assert.Equal("hooks.example.com", refused.Host);
        Assert.Equal(3, refused.Addresses.Count);
        Assert.Empty(upstream.Paths);
    }

    [Fact]
    public async Task Connect_AllowPrivate_ConnectsToWhatTheNameResolvesTo()
    {
        var resolver = new TableHostResolver(new Dictionary<string, IPAddress[]> { ["hooks.example.com"] = [IPAddress.Loopback] });
        await using var upstream = await EchoUpstream.StartAsync(TestContext.Current.CancellationToken);
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = GuardedConnect.Create(resolver, allowPrivate: true) });

        using var response = await http.GetAsync($"http://hooks.example.com:{upstream.Url.Port}/hook", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["/hook"], upstream.Paths);
    }
}
