using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Veil.Edge.RateLimiting;

namespace Veil.Edge.Tests;

/// <summary>
/// What one client is for the IP limit (docs/rate-limiting.md): an IPv4 address, or an IPv6 /64
/// (one host holds a whole /64 and could otherwise rotate through 2^64 buckets).
/// </summary>
public sealed class IpBucketTests
{
    private readonly EdgeRateLimiter _limiter = new(Options.Create(new RateLimitingOptions()), NullLogger<EdgeRateLimiter>.Instance);

    [Theory]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("203.0.113.7", "::ffff:203.0.113.7")]      // IPv4-mapped IPv6 is the IPv4 client
    public void IpBucket_SameClient_SharesOneBucket(string a, string b)
    {
        var first = _limiter.IpBucket(IPAddress.Parse(a));
        var second = _limiter.IpBucket(IPAddress.Parse(b));

        Assert.Same(first, second);
    }

    [Theory]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1")]     // neighbouring /64s
    [InlineData("203.0.113.7", "203.0.113.8")]             // IPv4 stays per address
    [InlineData("::ffff:203.0.113.7", "::ffff:203.0.113.8")]
    public void IpBucket_DifferentClients_SeparateBuckets(string a, string b)
    {
        var first = _limiter.IpBucket(IPAddress.Parse(a));
        var second = _limiter.IpBucket(IPAddress.Parse(b));

        Assert.NotSame(first, second);
    }

    [Theory]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "ip:2001:db8:1:2::/64")]
    [InlineData("::ffff:203.0.113.7", "ip:203.0.113.7")]
    public void IpBucket_Id_NamesTheClientForTheRateLimitService(string address, string id) =>
        Assert.Equal(id, _limiter.IpBucket(IPAddress.Parse(address)).Id);

    [Theory]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::1", "::")]
    public void ClientPrefix_MasksIPv6To64AndUnmapsIPv4(string address, string expected) =>
        Assert.Equal(IPAddress.Parse(expected), EdgeRateLimiter.ClientPrefix(IPAddress.Parse(address)));
}
