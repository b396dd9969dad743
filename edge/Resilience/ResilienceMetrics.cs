using System.Diagnostics.Metrics;

namespace Veil.Edge.Resilience;

/// <summary>
/// The resilience step's instruments on the <c>Veil.Edge</c> meter, tagged with the API id and
/// the target id (<c>t0</c>, <c>t1</c>, … or <c>upstream</c>), never an address.
/// </summary>
internal sealed class ResilienceMetrics
{
    public const string TargetTag = "veil.target";

    private readonly Counter<long> _transitions;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _retries;

    public ResilienceMetrics(IMeterFactory meterFactory, ResilienceRegistry registry)
    {
        var meter = meterFactory.Create(EdgeMetrics.MeterName);
        meter.CreateObservableGauge("veil.edge.circuit.state", () => States(registry), "{state}",
            "Each target's circuit breaker: 0 closed, 1 half-open, 2 open.");
        _transitions = meter.CreateCounter<long>("veil.edge.circuit.transitions", "{transition}",
            "Circuit breaker changes of state (veil.circuit.state: open, half_open, closed).");
        _rejected = meter.CreateCounter<long>("veil.edge.circuit.rejected", "{request}",
            "API calls answered 503 because every target's circuit breaker was open.");
        _retries = meter.CreateCounter<long>("veil.edge.retries", "{attempt}",
            "Failed upstream attempts and whether they were retried (veil.retry.outcome).");
    }

    public void Transition(string apiId, string target, BreakerState state) => _transitions.Add(1,
        new KeyValuePair<string, object?>("veil.api_id", apiId), new KeyValuePair<string, object?>(TargetTag, target),
        new KeyValuePair<string, object?>("veil.circuit.state", StateName(state)));

    public void Rejected(string apiId) => _rejected.Add(1, new KeyValuePair<string, object?>("veil.api_id", apiId));

    /// <summary><paramref name="outcome"/>: one of <see cref="RetryOutcomes"/>.</summary>
    public void Retry(string apiId, string outcome) => _retries.Add(1,
        new KeyValuePair<string, object?>("veil.api_id", apiId), new KeyValuePair<string, object?>("veil.retry.outcome", outcome));

    public static string StateName(BreakerState state) => state switch
    {
        BreakerState.Open => "open",
        BreakerState.HalfOpen => "half_open",
        _ => "closed",
    };

    private static IEnumerable<Measurement<int>> States(ResilienceRegistry registry)
    {
        foreach (var api in registry.Apis)
        {
            if (!api.Settings.Breaker.Enabled)
            {
                continue;
            }
            foreach (var target in api.Targets)
            {
                yield return new Measurement<int>((int)target.State,
                    new KeyValuePair<string, object?>("veil.api_id", api.ApiId), new KeyValuePair<string, object?>(TargetTag, target.TargetId));
            }
        }
    }
}

/// <summary>The values of <c>veil.retry.outcome</c> on <c>veil.edge.retries</c>: what became of a retryable failure.</summary>
internal static class RetryOutcomes
{
    /// <summary>Retried (on another target when there is one).</summary>
    public const string Retried = "retried";

    /// <summary>The API's retry budget on this edge was spent.</summary>
    public const string BudgetExhausted = "budget_exhausted";

    /// <summary>A POST or PATCH without an Idempotency-Key header.</summary>
    public const string NotIdempotent = "not_idempotent";

    /// <summary>The request body is over 64 KiB or of unknown length, so it could not be sent again.</summary>
    public const string BodyNotReplayable = "body_not_replayable";

    /// <summary>The call already made max_retries retries.</summary>
    public const string MaxRetries = "max_retries";

    /// <summary>Every target left to try has its circuit breaker open.</summary>
    public const string CircuitOpen = "circuit_open";
}
