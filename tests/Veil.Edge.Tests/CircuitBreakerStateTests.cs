using Veil.Catalog.V1;
using Veil.Edge.Resilience;

namespace Veil.Edge.Tests;

/// <summary>
/// One target's breaker and an API's retry budget on a chosen clock (milliseconds): the window,
/// the ratio, half-open probes, and the back-off of repeated openings (docs/resilience.md).
/// </summary>
public sealed class CircuitBreakerStateTests
{
    private static readonly BreakerSettings Settings = BreakerSettings.From(new CircuitBreakerPolicy
    {
        MinimumRequests = 4, FailureRatio = 0.5, WindowMs = 10_000, OpenMs = 5_000, HalfOpenProbes = 2,
        BackoffInitialMs = 1_000, BackoffMaxMs = 3_000,
    });

    [Fact]
    public void Defaults_AreTheProtosDefaults()
    {
        var defaults = BreakerSettings.Default;
        Assert.Equal(new BreakerSettings(true, 0.5, 100, 60_000, 30_000, 1, 1_000, 30_000), defaults);
        // 30 s, then 30 s plus 1, 2, 4, 8, 16 s, capped at 30 s.
        Assert.Equal([30_000L, 31_000, 32_000, 34_000, 38_000, 46_000, 60_000, 60_000], Enumerable.Range(1, 8).Select(defaults.OpenFor).ToArray());
        Assert.Equal(new RetrySettings(true, 1, 0.1), RetrySettings.Default);
        Assert.False(RetrySettings.From(new RetryPolicy { MaxRetries = 0 }).Enabled);
        Assert.False(BreakerSettings.From(new CircuitBreakerPolicy { Enabled = false }).Enabled);
    }

    [Fact]
    public void Breaker_OpensAtRatioWithMinimum_OldFailuresLeaveTheWindow()
    {
        var breaker = new TargetBreaker("t0");
        // Failures older than the window do not count.
        Assert.Null(breaker.Record(0, AttemptResult.Failure, false, Settings));
        Assert.Null(breaker.Record(0, AttemptResult.Failure, false, Settings));
        Assert.Null(breaker.Record(0, AttemptResult.Failure, false, Settings));
        Assert.Null(breaker.Record(20_000, AttemptResult.Success, false, Settings));
        Assert.Null(breaker.Record(20_000, AttemptResult.Failure, false, Settings));
        Assert.Null(breaker.Record(20_000, AttemptResult.Success, false, Settings));
        Assert.Null(breaker.Record(20_000, AttemptResult.Ignored, false, Settings));
        Assert.Equal(BreakerState.Closed, breaker.State);

        // 2 of 4 failed: the ratio is reached with the minimum.
        var opened = breaker.Record(20_001, AttemptResult.Failure, false, Settings);
        Assert.Equal(new BreakerTransition(BreakerState.Open, 4, 2, 5_000, 1), opened);
        Assert.False(breaker.TryAdmit(24_000, Settings, out _, out var wait, out _));
        Assert.Equal(1_001, wait);
    }

    [Fact]
    public void Breaker_HalfOpenProbes_FailureReopensWithBackoff_SuccessesClose()
    {
        var breaker = Opened();

        // Open time over: half-open, two probe permits, then refusals while they are in flight.
        Assert.True(breaker.TryAdmit(5_000, Settings, out var probe, out _, out var halfOpen));
        Assert.True(probe);
        Assert.Equal(BreakerState.HalfOpen, halfOpen?.State);
        Assert.True(breaker.TryAdmit(5_000, Settings, out _, out _, out _));
        Assert.False(breaker.TryAdmit(5_000, Settings, out _, out _, out _));
        // A permit the balancer did not use comes back.
        breaker.Release();
        Assert.True(breaker.TryAdmit(5_000, Settings, out _, out _, out _));

        // A failed probe reopens for open_ms plus the first back-off, then doubled, capped.
        Assert.Equal(new BreakerTransition(BreakerState.Open, 1, 1, 6_000, 2), breaker.Record(5_100, AttemptResult.Failure, true, Settings));
        Assert.False(breaker.TryAdmit(11_099, Settings, out _, out _, out _));
        Assert.Equal(7_000, ReopenAfterProbe(breaker, 11_100).OpenForMs);
        Assert.Equal(8_000, ReopenAfterProbe(breaker, 18_100).OpenForMs);

        // Two successful probes close it; the back-off starts over.
        Assert.True(breaker.TryAdmit(26_100, Settings, out _, out _, out _));
        Assert.True(breaker.TryAdmit(26_100, Settings, out _, out _, out _));
        Assert.Null(breaker.Record(26_200, AttemptResult.Success, true, Settings));
        Assert.Equal(BreakerState.Closed, breaker.Record(26_200, AttemptResult.Success, true, Settings)?.State);
        Assert.Equal(5_000, Opened(breaker, 30_000).RemainingOpenMs(30_000));
    }

    [Fact]
    public void RetryBudget_AtLeastOnePerWindow_ThenTheRatio()
    {
        var budget = new RetryBudget();
        budget.Call(0);
        Assert.True(budget.TryRetry(0, 0.1));
        Assert.False(budget.TryRetry(0, 0.1));
        for (var i = 0; i < 19; i++)
        {
            budget.Call(500);
        }
        // 20 calls: 2 retries.
        Assert.True(budget.TryRetry(500, 0.1));
        Assert.False(budget.TryRetry(500, 0.1));
        // The window moved past those calls and retries: one again.
        Assert.True(budget.TryRetry(10_600, 0.1));
        Assert.False(budget.TryRetry(10_600, 0.1));
    }

    private static TargetBreaker Opened(TargetBreaker? breaker = null, long at = 0)
    {
        breaker ??= new TargetBreaker("t0");
        BreakerTransition? opened = null;
        for (var i = 0; i < 4; i++)
        {
            opened = breaker.Record(at, AttemptResult.Failure, false, Settings);
        }
        Assert.Equal(BreakerState.Open, opened?.State);
        return breaker;
    }

    private static BreakerTransition ReopenAfterProbe(TargetBreaker breaker, long at)
    {
        Assert.True(breaker.TryAdmit(at, Settings, out var probe, out _, out _));
        Assert.True(probe);
        return breaker.Record(at, AttemptResult.Failure, true, Settings)!.Value;
    }
}
