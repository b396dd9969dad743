using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// The <c>Veil.Edge.RateLimit</c> meter: decisions by outcome (allowed, limited, degraded) with the
/// API, the plan and the limit that was hit; lease renewals and their latency; the degraded state.
/// Tag values are API and plan ids or small fixed sets, never keys or addresses.
/// </summary>
internal sealed class RateLimitMetrics
{
    public const string MeterName = "Veil.Edge.RateLimit";

    // One interlocked cell per (outcome, API, plan, limit), read by an observable counter at
    // collection time: a decision costs a dictionary hit, not an OpenTelemetry tag-set lookup.
    private readonly ConcurrentDictionary<DecisionKey, StrongBox<long>> _decisions = new();
    private readonly Counter<long> _renewals;
    private readonly Histogram<double> _renewalDuration;

    public RateLimitMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("veil.edge.ratelimit.decisions", ObserveDecisions, "{request}",
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
        var cell = _decisions.GetOrAdd(new DecisionKey(outcome, apiId, planId ?? "", limit ?? ""), static _ => new StrongBox<long>());
        Interlocked.Increment(ref cell.Value);
    }

    private IEnumerable<Measurement<long>> ObserveDecisions()
    {
        foreach (var (key, cell) in _decisions)
        {
            yield return new Measurement<long>(Volatile.Read(ref cell.Value),
                new KeyValuePair<string, object?>("outcome", key.Outcome),
                new KeyValuePair<string, object?>("veil.api_id", key.ApiId),
                new KeyValuePair<string, object?>("veil.plan_id", key.PlanId),
                new KeyValuePair<string, object?>("veil.limit", key.Limit));
        }
    }

    private readonly record struct DecisionKey(string Outcome, string ApiId, string PlanId, string Limit);

    public void Renewal(bool ok, long startTimestamp)
    {
        var tag = new KeyValuePair<string, object?>("result", ok ? "ok" : "error");
        _renewals.Add(1, tag);
        _renewalDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tag);
    }
}
