namespace Veil.RateLimit.Data;

/// <summary>
/// The token-bucket arithmetic, shared by the in-memory store and mirrored line by line in
/// <c>token_bucket.lua</c> (keep the two in step). Tokens are fractional; a grant takes whole
/// tokens only. A bucket nobody has seen is full.
/// </summary>
public static class TokenBucket
{
    /// <summary>
    /// Slack when rounding a fractional level down to whole tokens: 1000/min refills
    /// 0.06 s × 16.666… = 0.99999999999999989 tokens in binary floating point, which must count as
    /// one. At most 1e-9 of a token per decision is forgiven (one token per billion decisions).
    /// </summary>
    public const double Epsilon = 1e-9;

    /// <summary>The level after <paramref name="elapsedSeconds"/> of refill, capped at the burst. A clock that went back refills nothing.</summary>
    public static double Refill(double tokens, double elapsedSeconds, double ratePerSecond, long burst) =>
        Math.Min(burst, elapsedSeconds > 0 ? tokens + elapsedSeconds * ratePerSecond : tokens);

    /// <summary>Takes up to <paramref name="requested"/> whole tokens from <paramref name="tokens"/>.</summary>
    public static BucketDecision Take(ref double tokens, double ratePerSecond, long requested)
    {
        var whole = WholeTokens(tokens);
        var granted = Math.Min(requested, whole);
        tokens = Math.Max(0, tokens - granted);
        var retryAfterMs = requested > 0 && granted == 0 ? RetryAfterMs(tokens, ratePerSecond) : 0;
        return new BucketDecision(granted, WholeTokens(tokens), retryAfterMs);
    }

    /// <summary>Gives <paramref name="returned"/> tokens back, never above the burst.</summary>
    public static BucketDecision Give(ref double tokens, long burst, long returned)
    {
        tokens = Math.Min(burst, tokens + returned);
        return new BucketDecision(0, WholeTokens(tokens), 0);
    }

    /// <summary>Seconds until a bucket at <paramref name="tokens"/> is full again; after that its state may be forgotten.</summary>
    public static double SecondsUntilFull(double tokens, double ratePerSecond, long burst) =>
        Math.Max(0, burst - tokens) / ratePerSecond;

    /// <summary>Whole tokens in a fractional level.</summary>
    public static long WholeTokens(double tokens) => (long)Math.Floor(tokens + Epsilon);

    /// <summary>Milliseconds until the level reaches one whole token (at least 1 when below it).</summary>
    public static long RetryAfterMs(double tokens, double ratePerSecond) =>
        WholeTokens(tokens) >= 1 ? 0 : Math.Max(1, (long)Math.Ceiling((1 - tokens) * 1000 / ratePerSecond - 1e-6));
}
