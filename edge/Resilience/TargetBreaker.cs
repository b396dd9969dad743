namespace Veil.Edge.Resilience;

/// <summary>What an attempt on a target says about the target's health (docs/resilience.md, "What counts as a failure").</summary>
internal enum AttemptResult
{
    /// <summary>Nothing about the upstream: the client went away, the edge refused the request, or nothing was sent.</summary>
    Ignored,
    Success,
    Failure,
}

internal enum BreakerState
{
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// <summary>A change of a breaker's state, to log and count once.</summary>
internal readonly record struct BreakerTransition(BreakerState State, int Requests, int Failures, long OpenForMs, int Opening);

/// <summary>
/// One target's circuit breaker: closed with a sliding failure window (10 buckets over
/// <see cref="BreakerSettings.WindowMs"/>), open until a time, then half-open with
/// <see cref="BreakerSettings.HalfOpenProbes"/> probe permits. Times are milliseconds of the
/// resilience step's <see cref="TimeProvider"/>. A short lock per recorded attempt; the closed
/// state's admission reads one volatile field.
/// </summary>
internal sealed class TargetBreaker(string targetId)
{
    private const int Buckets = 10;

    private readonly Lock _lock = new();
    private readonly long[] _bucketIndex = new long[Buckets];
    private readonly int[] _requests = new int[Buckets];
    private readonly int[] _failures = new int[Buckets];
    private volatile int _state; // BreakerState
    private long _openUntil;
    private int _opening;
    private int _permits;
    private int _probesSucceeded;

    public string TargetId { get; } = targetId;

    public BreakerState State => (BreakerState)_state;

    /// <summary>
    /// Whether a call may go to the target now: always while closed; while open, no, and
    /// <paramref name="retryAfterMs"/> says for how long; when the open time is over the breaker
    /// half-opens (<paramref name="transition"/>) and hands out its probe permits one by one
    /// (<paramref name="probe"/>: the caller owes a <see cref="Record"/> or <see cref="Release"/>).
    /// </summary>
    public bool TryAdmit(long now, BreakerSettings settings, out bool probe, out long retryAfterMs, out BreakerTransition? transition)
    {
        probe = false;
        retryAfterMs = 0;
        transition = null;
        if (_state == (int)BreakerState.Closed)
        {
            return true;
        }
        lock (_lock)
        {
            if (_state == (int)BreakerState.Closed)
            {
                return true;
            }
            if (_state == (int)BreakerState.Open)
            {
                if (now < _openUntil)
                {
                    retryAfterMs = _openUntil - now;
                    return false;
                }
                _state = (int)BreakerState.HalfOpen;
                _permits = settings.HalfOpenProbes;
                _probesSucceeded = 0;
                transition = new(BreakerState.HalfOpen, 0, 0, 0, _opening);
            }
            if (_permits > 0)
            {
                _permits--;
                probe = true;
                return true;
            }
            // Every probe is in flight: their answers decide soon.
            retryAfterMs = 1_000;
            return false;
        }
    }

    /// <summary>Gives back a probe permit the call did not use (the balancer picked another target).</summary>
    public void Release()
    {
        lock (_lock)
        {
            if (_state == (int)BreakerState.HalfOpen)
            {
                _permits++;
            }
        }
    }

    /// <summary>Counts an attempt's result; returns the transition it caused, if any.</summary>
    public BreakerTransition? Record(long now, AttemptResult result, bool probe, BreakerSettings settings)
    {
        if (result == AttemptResult.Ignored)
        {
            if (probe)
            {
                Release();
            }
            return null;
        }
        lock (_lock)
        {
            switch ((BreakerState)_state)
            {
                case BreakerState.Closed:
                    var (requests, failures) = Add(now, result == AttemptResult.Failure, settings.WindowMs);
                    if (result == AttemptResult.Failure && requests >= settings.MinimumRequests && failures >= settings.FailureRatio * requests)
                    {
                        return Open(now, settings, requests, failures);
                    }
                    return null;
                case BreakerState.HalfOpen when probe:
                    if (result == AttemptResult.Failure)
                    {
                        return Open(now, settings, 1, 1);
                    }
                    if (++_probesSucceeded >= settings.HalfOpenProbes)
                    {
                        _state = (int)BreakerState.Closed;
                        _opening = 0;
                        Array.Clear(_requests);
                        Array.Clear(_failures);
                        return new(BreakerState.Closed, _probesSucceeded, 0, 0, 0);
                    }
                    return null;
                default:
                    // Calls admitted before the breaker opened, finishing now: the window is closed.
                    return null;
            }
        }
    }

    /// <summary>Milliseconds until the breaker half-opens (0 unless open).</summary>
    public long RemainingOpenMs(long now)
    {
        lock (_lock)
        {
            return _state == (int)BreakerState.Open ? Math.Max(0, _openUntil - now) : 0;
        }
    }

    private BreakerTransition Open(long now, BreakerSettings settings, int requests, int failures)
    {
        _opening++;
        var openFor = settings.OpenFor(_opening);
        _openUntil = now + openFor;
        _state = (int)BreakerState.Open;
        _permits = 0;
        return new(BreakerState.Open, requests, failures, openFor, _opening);
    }

    /// <summary>Adds to the current bucket and sums the window (buckets younger than the window).</summary>
    private (int Requests, int Failures) Add(long now, bool failed, long windowMs)
    {
        var width = Math.Max(1, windowMs / Buckets);
        var index = now / width;
        var slot = (int)(index % Buckets);
        if (_bucketIndex[slot] != index)
        {
            _bucketIndex[slot] = index;
            _requests[slot] = 0;
            _failures[slot] = 0;
        }
        _requests[slot]++;
        if (failed)
        {
            _failures[slot]++;
        }
        int requests = 0, failures = 0;
        for (var i = 0; i < Buckets; i++)
        {
            if (index - _bucketIndex[i] < Buckets)
            {
                requests += _requests[i];
                failures += _failures[i];
            }
        }
        return (requests, failures);
    }
}
