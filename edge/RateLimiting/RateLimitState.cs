namespace Veil.Edge.RateLimiting;

/// <summary>What the rate-limit steps know about one call: the IP token (to refund it), and whether a local bucket decided.</summary>
internal sealed class RateLimitState
{
    public LeasedBucket? IpBucket;
    public Decision Ip;
}
