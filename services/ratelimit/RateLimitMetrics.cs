using System.Diagnostics.Metrics;

namespace Veil.RateLimit;

/// <summary>
/// The <c>Veil.RateLimit</c> meter: decisions by outcome, leased and returned tokens, store
/// failures, Redis latency and the breaker state (the last two come from the Redis store).
/// </summary>
public sealed class RateLimitMetrics
{
    public const string MeterName = "Veil.RateLimit";

    private readonly Counter<long> _decisions;
    private readonly Counter<long> _leasedTokens;
    private readonly Counter<long> _returnedTokens;
    private readonly Counter<long> _unavailable;
    private readonly Histogram<double> _redisDuration;

    public RateLimitMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        _decisions = Meter.CreateCounter<long>("veil.ratelimit.decisions", "{decision}",
            "Bucket decisions by outcome: granted (all requested), partial, limited (none).");
        _leasedTokens = Meter.CreateCounter<long>("veil.ratelimit.leased_tokens", "{token}", "Tokens granted in leases.");
        _returnedTokens = Meter.CreateCounter<long>("veil.ratelimit.returned_tokens", "{token}", "Unspent leased tokens given back.");
        _unavailable = Meter.CreateCounter<long>("veil.ratelimit.store_unavailable", "{call}",
            "Calls answered UNAVAILABLE because the store failed, timed out or its breaker was open.");
        _redisDuration = Meter.CreateHistogram<double>("veil.ratelimit.redis.duration", "s",
            "Duration of one Redis decision round trip (a whole batch), including failures.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
    }

    /// <summary>The meter, for the stores' observable instruments.</summary>
    public Meter Meter { get; }

    public void Decision(string store, long requested, long granted)
    {
        var outcome = granted == requested ? "granted" : granted > 0 ? "partial" : "limited";
        _decisions.Add(1, new KeyValuePair<string, object?>("veil.outcome", outcome), new KeyValuePair<string, object?>("veil.store", store));
        if (granted > 0)
        {
            _leasedTokens.Add(granted, new KeyValuePair<string, object?>("veil.store", store));
        }
    }

    public void Returned(string store, long tokens) =>
        _returnedTokens.Add(tokens, new KeyValuePair<string, object?>("veil.store", store));

    public void Unavailable(string store, string cause) =>
        _unavailable.Add(1, new KeyValuePair<string, object?>("veil.store", store), new KeyValuePair<string, object?>("veil.cause", cause));

    public void RedisCall(TimeSpan duration, string outcome) =>
        _redisDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("veil.outcome", outcome));
}
