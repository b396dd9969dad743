using Veil.RateLimit.Data;

namespace Veil.RateLimit.Tests;

/// <summary>The arithmetic both stores share (token_bucket.lua mirrors it).</summary>
public sealed class TokenBucketTests
{
    [Fact]
    public void Take_MoreThanHeld_GrantsTheWholeTokensOnly()
    {
        var tokens = 3.75;
        var decision = TokenBucket.Take(ref tokens, ratePerSecond: 4, requested: 10);
        Assert.Equal(new BucketDecision(3, 0, 0), decision);
        Assert.Equal(0.75, tokens, 1e-12);
    }

    [Fact]
    public void Take_NothingLeft_RetryAfterIsTimeToNextWholeToken()
    {
        var tokens = 0.75;
        var decision = TokenBucket.Take(ref tokens, ratePerSecond: 4, requested: 1);
        Assert.Equal(new BucketDecision(0, 0, 63), decision); // 0.25 token at 4/s = 62.5 ms
    }

    [Fact]
    public void Take_Zero_IsAPeek()
    {
        var tokens = 2.5;
        Assert.Equal(new BucketDecision(0, 2, 0), TokenBucket.Take(ref tokens, 1, 0));
        Assert.Equal(2.5, tokens);
    }

    [Fact]
    public void Refill_CapsAtBurst_AndIgnoresAClockGoingBack()
    {
        Assert.Equal(10, TokenBucket.Refill(2, elapsedSeconds: 100, ratePerSecond: 1, burst: 10));
        Assert.Equal(2, TokenBucket.Refill(2, elapsedSeconds: -5, ratePerSecond: 1, burst: 10));
        Assert.Equal(4, TokenBucket.Refill(9, elapsedSeconds: 0, ratePerSecond: 1, burst: 4));
    }

    [Fact]
    public void Take_RoundingJustBelowAWholeToken_CountsAsOne()
    {
        // 60 ms at 1000/min, in binary floating point.
        var tokens = TokenBucket.Refill(0, 0.06, 1000.0 / 60, 50);
        Assert.Equal(1, TokenBucket.Take(ref tokens, 1000.0 / 60, 1).Granted);
        Assert.Equal(0, tokens);
    }
}
