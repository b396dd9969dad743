using System.Diagnostics;
using Veil.Edge.Calls;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// Per client IP (IPv4 address or IPv6 /64, <see cref="EdgeRateLimiter.ClientPrefix"/>), before the
/// key check: also turns a flood of bad keys into 429s. Its token is refunded if a later limit
/// refuses the call.
/// </summary>
internal sealed class IpRateLimitMiddleware(RequestDelegate next, EdgeRateLimiter limiter, RateLimitMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        if (call is null || context.Connection.RemoteIpAddress is not { } address)
        {
            return next(context);
        }
        var bucket = limiter.IpBucket(address);
        var decision = limiter.Take(bucket, Stopwatch.GetTimestamp());
        return decision.Result == TakeResult.Wait
            ? WaitAsync(context, call, bucket)
            : Continue(context, call, bucket, decision);
    }

    private async Task WaitAsync(HttpContext context, ApiCallFeature call, LeasedBucket bucket)
    {
        Decision decision;
        try
        {
            decision = await limiter.TakeAfterWaitAsync(bucket, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            call.Outcome = Outcomes.ClientAborted;
            return;
        }
        await Continue(context, call, bucket, decision);
    }

    private Task Continue(HttpContext context, ApiCallFeature call, LeasedBucket bucket, in Decision decision)
    {
        if (decision.Result != TakeResult.Taken)
        {
            metrics.Decision(RateLimitOutcomes.Limited, call.ApiId, null, "ip");
            return RateLimitResponses.RejectAsync(context, call, bucket.Spec, decision, limiter.IsDegraded);
        }
        context.Features.Set(new RateLimitState { IpBucket = bucket, Ip = decision });
        RateLimitResponses.SetHeaders(context.Response, bucket.Spec, decision);
        return next(context);
    }
}
