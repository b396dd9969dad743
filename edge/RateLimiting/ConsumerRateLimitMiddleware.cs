using System.Diagnostics;
using Veil.Edge.Calls;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// Per key, per consumer (across all their keys) and per plan, after the entitlement check, in
/// that order. A refusal refunds what the earlier limits (and the IP limit) took, so a refused call
/// consumes nothing, and marks the call not billable. Sets <c>RateLimit</c> and
/// <c>RateLimit-Policy</c> for the most restrictive limit.
/// </summary>
internal sealed class ConsumerRateLimitMiddleware(RequestDelegate next, EdgeRateLimiter limiter, RateLimitMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        if (call?.KeyId is null || call.ConsumerId is null)
        {
            return next(context);
        }
        var buckets = new Buckets(
            limiter.KeyBucket(call.KeyId),
            limiter.ConsumerBucket(call.ConsumerId),
            call.SubscriptionId is null ? null : limiter.PlanBucket(call.SubscriptionId, call.Plan));

        var now = Stopwatch.GetTimestamp();
        var key = limiter.Take(buckets.Key, now);
        if (key.Result == TakeResult.Wait)
        {
            return SlowAsync(context, call, buckets);
        }
        if (key.Result == TakeResult.Empty)
        {
            return Reject(context, call, buckets, 0, key, default, default);
        }
        var consumer = limiter.Take(buckets.Consumer, now);
        if (consumer.Result != TakeResult.Taken)
        {
            buckets.Key.Refund(key, now);
            return consumer.Result == TakeResult.Wait ? SlowAsync(context, call, buckets) : Reject(context, call, buckets, 1, key, consumer, default);
        }
        var plan = default(Decision);
        if (buckets.Plan is not null)
        {
            plan = limiter.Take(buckets.Plan, now);
            if (plan.Result != TakeResult.Taken)
            {
                buckets.Key.Refund(key, now);
                buckets.Consumer.Refund(consumer, now);
                return plan.Result == TakeResult.Wait ? SlowAsync(context, call, buckets) : Reject(context, call, buckets, 2, key, consumer, plan);
            }
        }
        return Admit(context, call, buckets, key, consumer, plan);
    }

    /// <summary>A cold bucket on the way: wait (bounded) for each limit in turn.</summary>
    private async Task SlowAsync(HttpContext context, ApiCallFeature call, Buckets buckets)
    {
        var decisions = new Decision[3];
        for (var i = 0; i < 3; i++)
        {
            var bucket = buckets[i];
            if (bucket is null)
            {
                continue;
            }
            Decision decision;
            try
            {
                decision = limiter.Take(bucket, Stopwatch.GetTimestamp());
                if (decision.Result == TakeResult.Wait)
                {
                    decision = await limiter.TakeAfterWaitAsync(bucket, context.RequestAborted);
                }
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                RefundAll(context, buckets, decisions, i);
                call.Outcome = Outcomes.ClientAborted;
                return;
            }
            if (decision.Result != TakeResult.Taken)
            {
                RefundAll(context, buckets, decisions, i);
                decisions[i] = decision;
                await Reject(context, call, buckets, i, decisions[0], decisions[1], decisions[2], refundEarlier: false);
                return;
            }
            decisions[i] = decision;
        }
        await Admit(context, call, buckets, decisions[0], decisions[1], decisions[2]);
    }

    private Task Admit(HttpContext context, ApiCallFeature call, Buckets buckets, in Decision key, in Decision consumer, in Decision plan)
    {
        var state = context.Features.Get<RateLimitState>();
        // The most restrictive limit names itself in the headers: fewest tokens left.
        var spec = buckets.Key.Spec;
        var best = key;
        if (consumer.Remaining < best.Remaining)
        {
            (spec, best) = (buckets.Consumer.Spec, consumer);
        }
        if (buckets.Plan is not null && plan.Remaining < best.Remaining)
        {
            (spec, best) = (buckets.Plan.Spec, plan);
        }
        if (state?.IpBucket is { } ip && state.Ip.Remaining < best.Remaining)
        {
            (spec, best) = (ip.Spec, state.Ip);
        }
        var local = key.Local || consumer.Local || plan.Local || state?.Ip.Local == true;
        best.Local = local;
        RateLimitResponses.SetHeaders(context.Response, spec, best);
        metrics.Decision(local ? RateLimitOutcomes.Degraded : RateLimitOutcomes.Allowed, call.ApiId, call.PlanId, null);
        return next(context);
    }

    private Task Reject(HttpContext context, ApiCallFeature call, Buckets buckets, int index, in Decision key, in Decision consumer, in Decision plan,
        bool refundEarlier = true)
    {
        var now = Stopwatch.GetTimestamp();
        if (refundEarlier)
        {
            // InvokeAsync refunded the other limits already; the IP token goes back here.
            RefundIp(context, now);
        }
        var bucket = buckets[index]!;
        var decision = index switch { 0 => key, 1 => consumer, _ => plan };
        metrics.Decision(RateLimitOutcomes.Limited, call.ApiId, call.PlanId, bucket.Spec.Name);
        return RateLimitResponses.RejectAsync(context, call, bucket.Spec, decision, limiter.IsDegraded);
    }

    private static void RefundAll(HttpContext context, Buckets buckets, Decision[] decisions, int count)
    {
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            buckets[i]?.Refund(decisions[i], now);
        }
        RefundIp(context, now);
    }

    private static void RefundIp(HttpContext context, long now)
    {
        if (context.Features.Get<RateLimitState>() is { IpBucket: { } ip } state)
        {
            ip.Refund(state.Ip, now);
        }
    }

    private readonly record struct Buckets(LeasedBucket Key, LeasedBucket Consumer, LeasedBucket? Plan)
    {
        public LeasedBucket? this[int index] => index switch { 0 => Key, 1 => Consumer, _ => Plan };
    }
}
