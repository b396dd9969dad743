using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// The <c>Veil.Edge.RateLimit</c> meter: decisions by outcome (allowed, limited, degraded) with the
/// API, the plan and the limit that was hit; lease renewals and their latency; the degraded state.
/// Tag values are API and plan ids or small fixed sets, never keys or addresses.
/// </summary>
internal sealed class RateLimitMetrics
{
    public const string MeterName = "Veil.Edge.RateLimit";

    private readonly Counter<long> _decisions;
    private readonly Counter<long> _renewals;
    private readonly Histogram<double> _renewalDuration;

    public RateLimitMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _decisions = meter.CreateCounter<long>("veil.edge.ratelimit.decisions", "{request}",
            "Rate-limit decisions by outcome (allowed, limited, degraded), API, plan and the limit hit (ip, key, consumer, plan).");
        _renewals = meter.CreateCounter<long>("veil.edge.ratelimit.lease.renewals", "{call}",
            "AcquireLease calls to the ratelimit service by result (ok, error).");
        _renewalDuration = meter.CreateHistogram<double>("veil.edge.ratelimit.lease.duration", "s",
            "Latency of AcquireLease calls, by result.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5] });
        Meter = meter;
    }

    public Meter Meter { get; }

    public void Decision(string outcome, string apiId, string? planId, string? limit)
    {
        var tags = new TagList
        {
            { "outcome", outcome },
            { "veil.api_id", apiId },
            { "veil.plan_id", planId ?? "" },
            { "veil.limit", limit ?? "" },
        };
        _decisions.Add(1, tags);
    }

    public void Renewal(bool ok, long startTimestamp)
    {
        var tag = new KeyValuePair<string, object?>("result", ok ? "ok" : "error");
        _renewals.Add(1, tag);
        _renewalDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tag);
    }
}

/// <summary>Outcome tag values of <c>veil.edge.ratelimit.decisions</c>.</summary>
internal static class RateLimitOutcomes
{
    public const string Allowed = "allowed";
    public const string Limited = "limited";
    public const string Degraded = "degraded";
}
