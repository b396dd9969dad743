using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Veil.Edge.Pipeline;

namespace Veil.Edge.Usage;

/// <summary>
/// After entitlement: a subscription in usage's last known set of exhausted hard-capped
/// subscriptions gets 429 with the quota-exhausted problem and <c>Retry-After</c> until its cycle
/// ends. Plans that allow overage always pass. Refused calls are not billable.
/// </summary>
internal sealed class QuotaMiddleware(RequestDelegate next, QuotaWatcher quotas, UsageMetrics metrics, TimeProvider time)
{
    public const string Outcome = "quota_exhausted";
    public const string ProblemType = "https://veil.dev/problems/quota-exhausted";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

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

        call.Outcome = Outcome;
        call.Billable = false;
        metrics.QuotaRejected(call.ApiId);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        response.ContentType = "application/problem+json";
        response.Headers.CacheControl = "no-store";
        response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling((reset - now).TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var body = JsonSerializer.SerializeToUtf8Bytes(new ProblemDetails
        {
            Type = ProblemType,
            Title = "Quota exhausted",
            Status = StatusCodes.Status429TooManyRequests,
            Detail = string.Create(CultureInfo.InvariantCulture,
                $"The subscription has used its quota of {exhausted.MonthlyQuota} calls for this billing cycle; it resets at {reset.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}."),
        }, Json);
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
