namespace Veil.Edge.Resilience;

/// <summary>
/// One API's retry budget on this edge: calls and retries over the last <see cref="WindowMs"/> (ten
/// 1 s buckets). A retry is allowed while the window's retries stay under
/// max(<see cref="MinimumRetries"/>, ratio × calls), so an API with few calls can still retry once
/// per window. Counting is lock-free; a bucket is reset under a lock when its second comes round again.
/// </summary>
internal sealed class RetryBudget
{
    /// <summary>The window the budget is counted over.</summary>
    public const long WindowMs = 10_000;

    /// <summary>Retries allowed in a window whatever the ratio (ratio above 0), so a quiet API can retry too.</summary>
    public const int MinimumRetries = 1;

    private const int Buckets = 10;
    private const long BucketMs = WindowMs / Buckets;

    private readonly Lock _roll = new();
    private readonly long[] _second = new long[Buckets];
    private readonly int[] _calls = new int[Buckets];
    private readonly int[] _retries = new int[Buckets];

    /// <summary>Counts a call (each client call once, however many attempts it makes).</summary>
    public void Call(long now) => Interlocked.Increment(ref _calls[Slot(now)]);

    /// <summary>Takes a retry from the budget if it has one.</summary>
    public bool TryRetry(long now, double ratio)
    {
        var slot = Slot(now);
        var index = now / BucketMs;
        int calls = 0, retries = 0;
        for (var i = 0; i < Buckets; i++)
        {
            if (index - Volatile.Read(ref _second[i]) < Buckets)
            {
                calls += Volatile.Read(ref _calls[i]);
                retries += Volatile.Read(ref _retries[i]);
            }
        }
        if (retries >= Math.Max(MinimumRetries, ratio * calls))
        {
            return false;
        }
        // Two racing retries may both pass at the edge of the budget: off by one at most per race.
        Interlocked.Increment(ref _retries[slot]);
        return true;
    }

    private int Slot(long now)
    {
        var index = now / BucketMs;
        var slot = (int)(index % Buckets);
        if (Volatile.Read(ref _second[slot]) != index)
        {
            lock (_roll)
            {
                if (_second[slot] != index)
                {
                    _calls[slot] = 0;
                    _retries[slot] = 0;
                    Volatile.Write(ref _second[slot], index);
                }
            }
        }
        return slot;
    }
}
