using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Veil.Samples.Upstream;

/// <summary>The sample's signed-call check, bound from the <c>Upstream</c> section.</summary>
public sealed class UpstreamOptions
{
    public const string SectionName = "Upstream";

    /// <summary>
    /// The API's signing secret (from <c>POST /v1/apis/{api_id}:rotateSigningSecret</c>). When
    /// set, every call but <c>/health</c> and <c>/alive</c> must carry a valid
    /// <c>X-Veil-Signature</c> at most 5 minutes old, or is refused with 401. Empty (the default):
    /// calls are not checked, as in the quickstart before its signing step.
    /// </summary>
    public string? SigningSecret { get; set; }
}

/// <summary>
/// Verifies Veil's signature on every call (docs/policies.md, "Signed calls"), so a direct caller
/// forging the <c>X-Veil-*</c> headers is refused. The check is <see cref="VeilSignature"/>, the
/// C# snippet of the docs.
/// </summary>
public static class SignedCalls
{
    public static WebApplication UseSignedCalls(this WebApplication app)
    {
        var secret = app.Services.GetRequiredService<IOptions<UpstreamOptions>>().Value.SigningSecret;
        if (string.IsNullOrEmpty(secret))
        {
            return app;
        }
        var time = app.Services.GetService<TimeProvider>() ?? TimeProvider.System;
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (path.StartsWithSegments("/health") || path.StartsWithSegments("/alive"))
            {
                await next(context);
                return;
            }
            var headers = context.Request.Headers;
            // The raw request target: path and query exactly as received, as the edge signed them.
            var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (path + context.Request.QueryString).ToString();
            if (!VeilSignature.Verify(secret, headers["X-Veil-Signature"].FirstOrDefault(), context.Request.Method, target,
                    headers["X-Veil-Consumer"].ToString(), headers["X-Veil-Subscription"].ToString(), headers["X-Veil-Plan"].ToString(),
                    headers["X-Request-Id"].ToString(), time.GetUtcNow()))
            {
                await Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unsigned call",
                    detail: "This API accepts only calls forwarded by Veil: X-Veil-Signature is missing, stale (over 5 minutes) or does not match.")
                    .ExecuteAsync(context);
                return;
            }
            await next(context);
        });
        return app;
    }
}
