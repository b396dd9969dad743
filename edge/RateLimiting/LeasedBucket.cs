using System.Diagnostics;
using System.Globalization;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// One token bucket as one edge sees it: the unspent tokens of up to two leases (each with its own
/// monotonic expiry, counted from the send of the AcquireLease that granted it), the renewal state,
/// and a local token bucket at <c>limit / N</c> used only in degraded mode. Every method holds the
/// lock for a few arithmetic operations and never across an await.
/// </summary>
internal sealed class LeasedBucket(string id, LimitSpec spec)
{
    private static readonly double TicksPerSecond = Stopwatch.Frequency;

    private readonly Lock _gate = new();
    private long _tokensA, _expiryA, _tokensB, _expiryB;
    private bool _inFlight;
    private long _inFlightRequested;
    private long _notBefore;
    private long _lastRemaining;
    private long _answeredAt;
    private long _ttl;
    private long _answeredEpoch = -1;
    private TaskCompletionSource? _pending;

    private long _localEpoch = -1;
    private double _localLevel;
    private long _localRefill;

    /// <summary>The bucket id sent to the ratelimit service (<c>key:&lt;key_id&gt;</c>, …).</summary>
    public string Id { get; } = id;

    public LimitSpec Spec { get; set; } = spec;

    /// <summary><see cref="Environment.TickCount64"/> of the last use, for idle eviction.</summary>
    public long LastUsed;

    /// <summary>The renewal in flight, for a cold bucket's bounded wait.</summary>
    public Task? Pending => _pending?.Task;

    public bool IsIdle(long nowTicks, long idleMs)
    {
        lock (_gate)
        {
            return !_inFlight && nowTicks - Volatile.Read(ref LastUsed) > idleMs;
        }
    }

    /// <summary>
    /// Spends one leased token if one is held. Sets <paramref name="renew"/> when the caller must
    /// queue a renewal (held tokens at or below the low-water mark, none in flight).
    /// </summary>
    public Decision TakeLeased(long now, long epoch, out bool renew)
    {
        var spec = Spec;
        var decision = default(Decision);
        renew = false;
        lock (_gate)
        {
            if (_expiryA <= now) _tokensA = 0;
            if (_expiryB <= now) _tokensB = 0;
            var held = _tokensA + _tokensB;
            var cold = _answeredEpoch != epoch;
            var taken = false;
            if (held > 0)
            {
                // Spend the lease that expires first.
                if (_tokensA > 0 && (_tokensB == 0 || _expiryA <= _expiryB))
                {
                    _tokensA--;
                    decision.LeaseExpiry = _expiryA;
                }
                else
                {
                    _tokensB--;
                    decision.LeaseExpiry = _expiryB;
                }
                held--;
                taken = true;
                decision.Result = TakeResult.Taken;
            }

            // Renew when the held tokens run low, or when even the newest held lease is in its last
            // quarter (and some of it was spent, so there is something to ask for): a steady client
            // never finds its tokens expired and never waits on the network.
            var expiring = held > 0 && held < spec.LeaseSize && _ttl > 0 && NewestExpiry() - now < _ttl / 4;
            if (!_inFlight && (held <= spec.LowWater || expiring) && (cold || now >= _notBefore))
            {
                _inFlight = true;
                _pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                renew = true;
            }
            if (!taken)
            {
                // Out of leased tokens: wait (bounded) for the renewal in flight — including the one this
                // very call just queued — when the store last had tokens; otherwise the bucket is empty.
                // Deciding before queueing turned a lease that ran out (or a grant that arrived expired
                // on a starved machine) into a spurious 429 while the store still had plenty.
                // The store's tokens are estimated from its last answer plus the refill since: a lease
                // that expired unspent (an idle client) took the bucket to 0 then, not now.
                decision.Result = _inFlight && (cold || StoreEstimate(spec, now) >= 1) ? TakeResult.Wait : TakeResult.Empty;
            }

            decision.Remaining = Math.Min(spec.Burst, held + (long)StoreEstimate(spec, now));
            decision.ResetSeconds = decision.Result == TakeResult.Empty
                ? Math.Max(1, SecondsCeiling(Math.Max(_notBefore - now, 0) / TicksPerSecond, 1 / spec.Rate))
                : SecondsCeiling((spec.Burst - decision.Remaining) / spec.Rate, 0);
        }
        return decision;
    }

    /// <summary>Takes one token from the local fallback bucket (degraded mode: <c>limit / N</c>).</summary>
    public Decision TakeLocal(long now, long degradedEpoch)
    {
        var spec = Spec;
        var decision = new Decision { Local = true };
        lock (_gate)
        {
            if (_localEpoch != degradedEpoch)
            {
                _localEpoch = degradedEpoch;
                _localLevel = spec.LocalBurst;
                _localRefill = now;
            }
            var elapsed = (now - _localRefill) / TicksPerSecond;
            if (elapsed > 0)
            {
                _localLevel = Math.Min(spec.LocalBurst, _localLevel + elapsed * spec.LocalRate);
                _localRefill = now;
            }
            if (_localLevel >= 1 - 1e-9)
            {
                _localLevel -= 1;
                decision.Result = TakeResult.Taken;
                decision.Remaining = (long)Math.Floor(_localLevel + 1e-9);
                decision.ResetSeconds = SecondsCeiling((spec.LocalBurst - _localLevel) / spec.LocalRate, 0);
            }
            else
            {
                decision.Result = TakeResult.Empty;
                decision.ResetSeconds = Math.Max(1, SecondsCeiling((1 - _localLevel) / spec.LocalRate, 1));
            }
        }
        return decision;
    }

    /// <summary>Gives back a token a later limit refused (only into the lease it came from, if unexpired).</summary>
    public void Refund(in Decision decision, long now)
    {
        lock (_gate)
        {
            if (decision.Local)
            {
                _localLevel = Math.Min(Spec.LocalBurst, _localLevel + 1);
            }
            else if (decision.LeaseExpiry > now && _tokensA + _tokensB + _inFlightRequested < Spec.LeaseSize)
            {
                // Keeping held + in-flight ≤ L keeps the bound's L; a token that does not fit is lost (under-admits).
                if (_expiryA == decision.LeaseExpiry) _tokensA++;
                else if (_expiryB == decision.LeaseExpiry) _tokensB++;
            }
        }
    }

    /// <summary>Tokens to ask for in the renewal being sent: L minus what is held.</summary>
    public long BeginRequest(long now)
    {
        lock (_gate)
        {
            if (_expiryA <= now) _tokensA = 0;
            if (_expiryB <= now) _tokensB = 0;
            _inFlightRequested = Math.Max(0, Spec.LeaseSize - _tokensA - _tokensB);
            return _inFlightRequested;
        }
    }

    /// <summary>Applies a grant. <paramref name="sentAt"/> is when the request was sent: the lease's TTL counts from there.</summary>
    public void Granted(long sentAt, long now, long epoch, long granted, long ttlMs, long remaining, long retryAfterMs)
    {
        TaskCompletionSource? pending;
        lock (_gate)
        {
            var spec = Spec;
            var expiry = sentAt + (long)(ttlMs * TicksPerSecond / 1000);
            if (granted > 0 && expiry > now)
            {
                if (_expiryA <= now) _tokensA = 0;
                if (_expiryB <= now) _tokensB = 0;
                if (_tokensA == 0) (_tokensA, _expiryA) = (granted, expiry);
                else if (_tokensB == 0) (_tokensB, _expiryB) = (granted, expiry);
                // Both slots busy: join the later slot but keep its earlier expiry (spending sooner is safe).
                else if (_expiryA >= _expiryB) _tokensA += granted;
                else _tokensB += granted;
            }
            _lastRemaining = remaining;
            _answeredAt = now;
            _ttl = (long)(ttlMs * TicksPerSecond / 1000);
            _answeredEpoch = epoch;
            if (granted < _inFlightRequested)
            {
                // The store ran dry: do not ask again before it has refilled about half a lease.
                var waitSeconds = Math.Max(retryAfterMs / 1000.0, spec.LowWater / spec.Rate);
                _notBefore = now + (long)(Math.Min(waitSeconds, 0.5) * TicksPerSecond);
            }
            else
            {
                _notBefore = 0;
            }
            _inFlight = false;
            _inFlightRequested = 0;
            pending = _pending;
            _pending = null;
        }
        pending?.TrySetResult();
    }

    /// <summary>The renewal failed (the edge is going degraded); wakes any cold waiter.</summary>
    public void Failed()
    {
        TaskCompletionSource? pending;
        lock (_gate)
        {
            _inFlight = false;
            _inFlightRequested = 0;
            pending = _pending;
            _pending = null;
        }
        pending?.TrySetResult();
    }

    /// <summary>The latest expiry among the held leases (callers hold the lock and hold some tokens).</summary>
    private long NewestExpiry() =>
        Math.Max(_tokensA > 0 ? _expiryA : 0, _tokensB > 0 ? _expiryB : 0);

    /// <summary>What the store had at its last answer plus its refill since, capped at the burst (callers hold the lock).</summary>
    private double StoreEstimate(LimitSpec spec, long now) =>
        Math.Min(spec.Burst, Math.Max(0, _lastRemaining) + Math.Max(0, now - _answeredAt) / TicksPerSecond * spec.Rate);

    private static long SecondsCeiling(double seconds, double atLeast) => (long)Math.Ceiling(Math.Max(seconds, atLeast) - 1e-9);
}
