namespace Veil.Edge.RateLimiting;

/// <summary>The outcome of one bucket for one request; a struct so the hot path allocates nothing.</summary>
internal struct Decision
{
    public TakeResult Result;
    /// <summary>Decided by the local fallback bucket (degraded), not by a lease.</summary>
    public bool Local;
    /// <summary>Expiry of the lease the token came from (to refund it into the same lease); 0 for local tokens.</summary>
    public long LeaseExpiry;
    /// <summary>Tokens this client may still expect (the header's <c>r</c>).</summary>
    public long Remaining;
    /// <summary>Seconds until the limit is fully restored, or until the next token when limited (header's <c>t</c>, Retry-After).</summary>
    public long ResetSeconds;
}
