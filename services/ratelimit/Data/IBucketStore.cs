namespace Veil.RateLimit.Data;

/// <summary>
/// Where the token buckets live: Redis (shared by every replica) or process memory (the embedded
/// default). Both apply the same <see cref="TokenBucket"/> arithmetic; one is chosen at start.
/// </summary>
public interface IBucketStore
{
    /// <summary>"redis" or "memory", for metrics and logs.</summary>
    string Name { get; }

    /// <summary>Takes up to <see cref="BucketRequest.Tokens"/> from each bucket; results in request order.</summary>
    /// <exception cref="StoreUnavailableException">The store failed, was too slow, or its breaker is open.</exception>
    Task<BucketBatch> AcquireAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken);

    /// <summary>Adds <see cref="BucketRequest.Tokens"/> back to each bucket, never above its burst.</summary>
    /// <exception cref="StoreUnavailableException">The store failed, was too slow, or its breaker is open.</exception>
    Task<BucketBatch> ReturnAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken);
}

/// <summary>One bucket, its limits, and how many tokens to take (or give back).</summary>
public readonly record struct BucketRequest(string Bucket, double RatePerSecond, long Burst, long Tokens);

/// <summary>What a store decided for one bucket.</summary>
/// <param name="Granted">Tokens taken (0 for a return).</param>
/// <param name="Remaining">Whole tokens left after the decision.</param>
/// <param name="RetryAfterMs">When nothing was granted though something was asked: ms until the next whole token.</param>
public readonly record struct BucketDecision(long Granted, long Remaining, long RetryAfterMs);

/// <summary>The decisions of one batch and the store's clock when it made them.</summary>
public sealed record BucketBatch(BucketDecision[] Decisions, long ServerTimeUnixMs);

/// <summary>The store could not decide in time; the caller answers UNAVAILABLE so the edge degrades.</summary>
public sealed class StoreUnavailableException(string cause, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Short machine-readable cause: <c>timeout</c>, <c>breaker_open</c>, <c>connection</c>, <c>error</c>.</summary>
    public string Cause { get; } = cause;
}
