using System.Globalization;
using Veil.Edge.Calls;

namespace Veil.Edge.Quota;

/// <summary>
/// After entitlement: a subscription in usage's last known set of exhausted hard-capped
/// subscriptions gets 429 with the quota-exhausted problem and <c>Retry-After</c> until its cycle
/// ends. Plans that allow overage always pass. Refused calls are not billable.
/// </summary>
internal sealed class QuotaMiddleware(RequestDelegate next, QuotaWatcher quotas, QuotaMetrics metrics, TimeProvider time)
{
    public Task InvokeAsync(HttpContext context)
    {
        var call = context.Features.Get<ApiCallFeature>();
        if (call?.SubscriptionId is not { } subscriptionId || call.Plan is { OverageAllowed: true } ||
            !quotas.TryGetExhausted(subscriptionId, out var exhausted))
        {
            return next(context);
        }
        var now = time.GetUtcNow();
        var reset = exhausted.CycleEnd?.ToDateTimeOffset() ?? now;
        if (reset <= now)
        {
            // The cycle ended: the quota has reset even if usage's next message is still on its way.
            return next(context);
        }

        call.Outcome = Outcomes.QuotaExhausted;
        call.Billable = false;
        metrics.Rejected(call.ApiId);
        context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling((reset - now).TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problems.WriteAsync(context, Problems.QuotaExhausted(exhausted.MonthlyQuota, reset));
    }
}
