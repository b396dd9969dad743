using System.Globalization;
using Veil.Edge.Calls;

namespace Veil.Edge.RateLimiting;

/// <summary>Headers and 429 answers of the rate-limit steps.</summary>
internal static class RateLimitResponses
{
    public const string DegradedHeader = "X-Veil-RateLimit-Degraded";

    public static void SetHeaders(HttpResponse response, LimitSpec spec, in Decision decision)
    {
        var headers = response.Headers;
        headers["RateLimit-Policy"] = spec.Policy;
        headers["RateLimit"] = string.Create(CultureInfo.InvariantCulture, $"\"{spec.Name}\";r={decision.Remaining};t={decision.ResetSeconds}");
        if (decision.Local)
        {
            headers[DegradedHeader] = "true";
        }
    }

    public static Task RejectAsync(HttpContext context, ApiCallFeature call, LimitSpec spec, Decision decision, bool degraded)
    {
        call.Outcome = Outcomes.RateLimited;
        call.Billable = false;
        decision.Remaining = 0;
        decision.Local |= degraded;
        SetHeaders(context.Response, spec, decision);
        context.Response.Headers.RetryAfter = Math.Max(1, decision.ResetSeconds).ToString(CultureInfo.InvariantCulture);
        return Problems.WriteAsync(context, Problems.RateLimited(spec.Name));
    }
}
