namespace Veil.ServiceDefaults.Retry;

/// <summary>
/// Capped exponential back-off, the one retry delay of every Veil loop that retries on its own
/// (the edge's watch followers and usage shipper, usage's webhook deliveries): attempt 1 waits
/// <see cref="Initial"/>, each further attempt doubles the wait, never above <see cref="Max"/>.
/// </summary>
/// <remarks>
/// Loops that a whole fleet runs against one service at once (every edge reconnecting its
/// catalog, identity and subscriptions watches after that service restarts) use
/// <see cref="Jittered"/>, and so does the quota watch against usage: jitter keeps a fleet of edges
/// from reconnecting in lockstep after a
/// service restart, which would meet the fresh process with every edge in the same instant and
/// again at each doubling. It is "equal jitter" — uniform in [delay/2, delay] — rather than full
/// jitter ([0, delay]) on purpose: half the exponential wait stays a floor, so one edge never
/// retries a service that is still down in a tight loop, while the fleet spreads over the other
/// half. Loops whose delays are stored or asserted (webhook retry times, the shipper's waits) use
/// <see cref="Delay"/> as is.
/// </remarks>
/// <param name="Initial">The wait after the first failure.</param>
/// <param name="Max">The longest wait; the doubling stops here.</param>
public readonly record struct Backoff(TimeSpan Initial, TimeSpan Max)
{
    /// <summary>
    /// The wait before retrying after <paramref name="attempt"/> failures in a row (1-based):
    /// <c>min(Initial × 2^(attempt − 1), Max)</c>, computed without overflow however many attempts.
    /// </summary>
    public TimeSpan Delay(int attempt)
    {
        var doublings = Math.Max(attempt - 1, 0);
        // Initial << doublings > Max exactly when Initial > floor(Max / 2^doublings).
        if (doublings >= 62 || Initial.Ticks > Max.Ticks >> doublings)
        {
            return Max;
        }
        return TimeSpan.FromTicks(Initial.Ticks << doublings);
    }

    /// <summary>
    /// <see cref="Delay"/> with equal jitter: uniformly between half of it and all of it (see the
    /// remarks for why a fleet needs this and why half stays a floor).
    /// </summary>
    public TimeSpan Jittered(int attempt, Random? random = null)
    {
        var delay = Delay(attempt);
        return delay / 2 + TimeSpan.FromMilliseconds((random ?? Random.Shared).NextDouble() * delay.TotalMilliseconds / 2);
    }
}
