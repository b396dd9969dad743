namespace Veil.Edge.RateLimiting;

/// <summary>What one bucket said about one request.</summary>
internal enum TakeResult
{
    /// <summary>A token was spent (from a lease, or from the local bucket when <see cref="Decision.Local"/>).</summary>
    Taken,
    /// <summary>No token: the request is limited.</summary>
    Empty,
    /// <summary>Cold bucket: its first lease is on the way; wait for <see cref="LeasedBucket.Pending"/> (bounded).</summary>
    Wait,
}
