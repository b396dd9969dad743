using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Resilience;

/// <summary>
/// The circuit breakers and retries of API calls (docs/resilience.md), around load balancing and
/// forwarding. Before each attempt it takes the targets whose breaker is open (or half-open with
/// every probe in flight) out of <see cref="IReverseProxyFeature.AvailableDestinations"/>; when
/// none is left it answers 503 with Retry-After itself. After each attempt it records the result
/// on the target's breaker and, when the attempt failed to connect or was reset before any response
/// byte, retries an idempotent call on another target, within the API's retry budget.
/// </summary>
internal sealed class ResilienceMiddleware(RequestDelegate next, ResilienceRegistry registry, ResilienceMetrics metrics,
    IDestinationHealthUpdater health, TimeProvider time, ILogger<ResilienceMiddleware> logger)
{
    /// <summary>The largest request body a retry sends again (buffered in memory while forwarded).</summary>
    public const int MaxReplayableBody = 64 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        var proxy = context.Features.Get<IReverseProxyFeature>();
        if (call is null || proxy?.Route.Cluster is not { } cluster)
        {
            return next(context);
        }
        var api = registry.For(cluster, proxy.Cluster, call.ApiId);
        var settings = api.Settings;
        return settings.Breaker.Enabled || settings.Retry.Enabled
            ? CallAsync(context, call, proxy, cluster, api, settings)
            : next(context);
    }

    private async Task CallAsync(HttpContext context, ApiCallFeature call, IReverseProxyFeature proxy, ClusterState cluster,
        ApiResilience api, ApiSettings settings)
    {
        var all = proxy.AvailableDestinations;
        string? notRetried = null;
        if (settings.Retry.Enabled)
        {
            api.Budget.Call(Now());
            notRetried = PrepareRetry(context.Request);
        }
        var admission = Admit(api, settings.Breaker, cluster, all);
        if (admission.Destinations.Count == 0 && all.Count > 0)
        {
            await RejectAsync(context, call, api, admission.RetryAfterMs);
            return;
        }
        List<DestinationState>? failed = null;
        for (var attempt = 1; ; attempt++)
        {
            proxy.AvailableDestinations = admission.Destinations;
            var settled = false;
            try
            {
                await next(context);
                var error = context.Features.Get<IForwarderErrorFeature>();
                var proxied = proxy.ProxiedDestination;
                settled = true;
                Settle(api, settings.Breaker, cluster, admission, proxied, Classify(context, error, proxied));
                if (!settings.Retry.Enabled || proxied is null || !IsRetryable(context, error))
                {
                    return;
                }
                if (notRetried is not null || attempt > settings.Retry.MaxRetries)
                {
                    metrics.Retry(api.ApiId, notRetried ?? RetryOutcomes.MaxRetries);
                    return;
                }
                (failed ??= []).Add(proxied);
                // Another target when there is one; else the same one again.
                var untried = all.Count > failed.Count ? all.Where(d => !failed.Contains(d)).ToList() : all;
                var nextAdmission = Admit(api, settings.Breaker, cluster, untried);
                if (nextAdmission.Destinations.Count == 0)
                {
                    metrics.Retry(api.ApiId, RetryOutcomes.CircuitOpen);
                    return;
                }
                if (!api.Budget.TryRetry(Now(), settings.Retry.BudgetRatio))
                {
                    ReleaseProbes(nextAdmission, except: null);
                    metrics.Retry(api.ApiId, RetryOutcomes.BudgetExhausted);
                    return;
                }
                metrics.Retry(api.ApiId, RetryOutcomes.Retried);
                ResilienceLog.Retrying(logger, api.ApiId, attempt, proxied.DestinationId);
                // Nothing reached the client: the next attempt starts from a clean response.
                context.Features.Set<IForwarderErrorFeature?>(null);
                context.Response.StatusCode = StatusCodes.Status200OK;
                if (context.Request.Body.CanSeek)
                {
                    context.Request.Body.Position = 0;
                }
                admission = nextAdmission;
            }
            finally
            {
                if (!settled)
                {
                    ReleaseProbes(admission, except: null);
                }
            }
        }
    }

    /// <summary>
    /// Whether a retryable failure of this call may be retried: null when it may (a body up to
    /// <see cref="MaxReplayableBody"/> is then buffered as it is forwarded), else the reason.
    /// </summary>
    private static string? PrepareRetry(HttpRequest request)
    {
        var method = request.Method;
        if (!(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) ||
              HttpMethods.IsPut(method) || HttpMethods.IsDelete(method) || request.Headers.ContainsKey("Idempotency-Key")))
        {
            return RetryOutcomes.NotIdempotent;
        }
        var length = request.ContentLength;
        if (length is 0 || (length is null && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: true }))
        {
            return null;
        }
        if (length is > 0 and <= MaxReplayableBody)
        {
            request.EnableBuffering(MaxReplayableBody);
            return null;
        }
        return RetryOutcomes.BodyNotReplayable;
    }

    /// <summary>A connection failure or reset before any response byte, of the upstream's making.</summary>
    private static bool IsRetryable(HttpContext context, IForwarderErrorFeature? error) =>
        error is { Error: ForwarderError.Request or ForwarderError.RequestBodyDestination } &&
        !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested &&
        AddressNotAllowedException.Find(error.Exception) is null && ApiCallMiddleware.RejectedBodyStatus(error) is null;

    /// <summary>What an attempt says about its target (docs/resilience.md, "What counts as a failure").</summary>
    private static AttemptResult Classify(HttpContext context, IForwarderErrorFeature? error, DestinationState? proxied)
    {
        if (proxied is null)
        {
            return AttemptResult.Ignored;
        }
        if (error is null || error.Error == ForwarderError.None)
        {
            return context.Response.StatusCode is StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable
                or StatusCodes.Status504GatewayTimeout ? AttemptResult.Failure : AttemptResult.Success;
        }
        if (AddressNotAllowedException.Find(error.Exception) is not null || ApiCallMiddleware.RejectedBodyStatus(error) is not null)
        {
            return AttemptResult.Ignored;
        }
        return error.Error switch
        {
            ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.RequestBodyDestination
                or ForwarderError.ResponseBodyDestination or ForwarderError.UpgradeRequestDestination
                or ForwarderError.UpgradeResponseDestination => AttemptResult.Failure,
            _ => AttemptResult.Ignored,
        };
    }

    private readonly record struct Admission(IReadOnlyList<DestinationState> Destinations, List<TargetBreaker>? Probes, long RetryAfterMs);

    private Admission Admit(ApiResilience api, BreakerSettings breaker, ClusterState cluster, IReadOnlyList<DestinationState> candidates)
    {
        if (!breaker.Enabled || !api.AnyNotClosed || candidates.Count == 0)
        {
            return new(candidates, null, 0);
        }
        var now = Now();
        var admitted = new List<DestinationState>(candidates.Count);
        List<TargetBreaker>? probes = null;
        var retryAfter = long.MaxValue;
        for (var i = 0; i < candidates.Count; i++)
        {
            var destination = candidates[i];
            var target = api.Target(destination);
            var admit = target.TryAdmit(now, breaker, out var probe, out var wait, out var transition);
            if (transition is { } changed)
            {
                Report(api, cluster, destination, changed);
            }
            if (admit)
            {
                admitted.Add(destination);
                if (probe)
                {
                    (probes ??= []).Add(target);
                }
            }
            else
            {
                retryAfter = Math.Min(retryAfter, wait);
            }
        }
        return new(admitted, probes, admitted.Count == 0 ? retryAfter : 0);
    }

    private void Settle(ApiResilience api, BreakerSettings breaker, ClusterState cluster, Admission admission, DestinationState? proxied, AttemptResult result)
    {
        if (!breaker.Enabled)
        {
            return;
        }
        TargetBreaker? target = null;
        if (proxied is not null)
        {
            target = api.Target(proxied);
            var probe = admission.Probes?.Contains(target) == true;
            if (target.Record(Now(), result, probe, breaker) is { } transition)
            {
                Report(api, cluster, proxied, transition);
            }
        }
        ReleaseProbes(admission, except: target);
    }

    private static void ReleaseProbes(Admission admission, TargetBreaker? except)
    {
        if (admission.Probes is { } probes)
        {
            foreach (var probe in probes)
            {
                if (probe != except)
                {
                    probe.Release();
                }
            }
        }
    }

    /// <summary>Logs and counts a transition once, and mirrors it in YARP's passive health state of the destination.</summary>
    private void Report(ApiResilience api, ClusterState cluster, DestinationState destination, BreakerTransition transition)
    {
        api.Recount();
        var target = destination.DestinationId;
        metrics.Transition(api.ApiId, target, transition.State);
        switch (transition.State)
        {
            case BreakerState.Open:
                if (transition.Opening > 1)
                {
                    ResilienceLog.CircuitReopened(logger, api.ApiId, target, transition.OpenForMs, transition.Opening);
                }
                else
                {
                    ResilienceLog.CircuitOpened(logger, api.ApiId, target, transition.Failures, transition.Requests, transition.OpenForMs);
                }
                health.SetPassive(cluster, destination, DestinationHealth.Unhealthy, TimeSpan.FromMilliseconds(transition.OpenForMs));
                break;
            case BreakerState.HalfOpen:
                ResilienceLog.CircuitHalfOpen(logger, api.ApiId, target);
                break;
            case BreakerState.Closed:
                ResilienceLog.CircuitClosed(logger, api.ApiId, target, transition.Requests);
                health.SetPassive(cluster, destination, DestinationHealth.Healthy, TimeSpan.Zero);
                break;
        }
    }

    private Task RejectAsync(HttpContext context, ApiCallFeature call, ApiResilience api, long retryAfterMs)
    {
        call.Outcome = Outcomes.CircuitOpen;
        call.Billable = false;
        metrics.Rejected(api.ApiId);
        context.Response.Headers.RetryAfter = Math.Max(1, (retryAfterMs + 999) / 1000).ToString(CultureInfo.InvariantCulture);
        return Problems.WriteAsync(context, Problems.CircuitOpen);
    }

    private long Now() => time.GetTimestamp() / Math.Max(1, time.TimestampFrequency / 1000);
}
