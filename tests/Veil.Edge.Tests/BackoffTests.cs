using Veil.ServiceDefaults.Retry;

namespace Veil.Edge.Tests;

/// <summary>The one retry delay (defaults/Retry/Backoff.cs) of the edge's watches and shipper and usage's webhooks.</summary>
public sealed class BackoffTests
{
    private static readonly Backoff Watch = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));

    [Fact]
    public void Delay_StartsAtInitialAndDoublesUpToMax()
    {
        var delays = Enumerable.Range(1, 8).Select(Watch.Delay).Select(d => d.TotalMilliseconds);

        Assert.Equal([250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000], delays);
    }

    [Theory]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(1_000)]
    [InlineData(int.MaxValue)]
    public void Delay_StaysAtMaxAfterManyAttempts(int attempt)
    {
        var oneDay = new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(1));

        Assert.Equal(TimeSpan.FromDays(1), oneDay.Delay(attempt));
    }

    [Fact]
    public void Delay_NeverExceedsMaxEvenWhenInitialDoes()
    {
        var odd = new Backoff(TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5));

        Assert.Equal(TimeSpan.FromSeconds(5), odd.Delay(1));
        Assert.Equal(TimeSpan.FromSeconds(5), odd.Delay(2));
    }

    [Fact]
    public void Delay_IsExactJustBelowAndAboveTheCap()
    {
        var backoff = new Backoff(TimeSpan.FromTicks(3), TimeSpan.FromTicks(12));

        Assert.Equal(TimeSpan.FromTicks(12), backoff.Delay(3)); // 3 × 4 = 12, at the cap
        Assert.Equal(TimeSpan.FromTicks(12), backoff.Delay(4)); // 3 × 8 = 24, capped
        Assert.Equal(TimeSpan.FromTicks(6), backoff.Delay(2));
    }

    [Fact]
    public void Jittered_StaysBetweenHalfAndAllOfTheDelay()
    {
        var random = new Random(7);
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            var delay = Watch.Delay(attempt);
            for (var i = 0; i < 1_000; i++)
            {
                var jittered = Watch.Jittered(attempt, random);
                Assert.InRange(jittered, delay / 2, delay);
            }
        }
    }

    [Fact]
    public void Jittered_SpreadsAFleetOverTheWindow()
    {
        var random = new Random(11);
        var delay = Watch.Delay(5); // 4 s: jitter spreads over [2 s, 4 s]

        var samples = Enumerable.Range(0, 10_000).Select(_ => Watch.Jittered(5, random).TotalMilliseconds).ToArray();

        // Each quarter of the window gets a fair share: no lockstep, no clumping at one end.
        var quarter = delay.TotalMilliseconds / 8;
        for (var q = 0; q < 4; q++)
        {
            var from = delay.TotalMilliseconds / 2 + q * quarter;
            var inQuarter = samples.Count(s => s >= from && s < from + quarter);
            Assert.InRange(inQuarter, 2_000, 3_000);
        }
        Assert.True(samples.Distinct().Count() > 9_000);
    }
}
