using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Veil.Edge.Calls;

namespace Veil.Edge.Cors;

/// <summary>
/// First step of the proxy pipeline (docs/cors.md). A request without <c>Origin</c> passes at the
/// cost of one header read. With one, the route's policy decides: an API route's
/// <see cref="ApiCors"/> (endpoint metadata, built per config apply) or, on a management route, the
/// <c>Edge:ManagementCors</c> policy; ASP.NET Core's <see cref="ICorsService"/> evaluates it.
/// <list type="bullet">
/// <item>A preflight (<c>OPTIONS</c> with <c>Access-Control-Request-Method</c>) is answered here with
/// 204, with the CORS headers when the origin is allowed and without them otherwise: never forwarded,
/// no key asked, not a call (no usage event, no rate limit; <c>veil.outcome</c> "preflight").</item>
/// <item>Any other request goes on; when its response starts, the upstream's own
/// <c>Access-Control-*</c> headers are dropped (the edge's policy is the API's only CORS answer) and,
/// for an allowed origin, the edge's are set: on the upstream's answer and on the edge's own
/// (401, 403, 429, 502…), so a browser can read them.</item>
/// </list>
/// A route without a policy is left as it was: a preflight to an API without CORS is an API call
/// like any other (it needs a key, which browsers never send on a preflight).
/// </summary>
internal sealed class EdgeCorsMiddleware(RequestDelegate next, ICorsService cors, ManagementCors management, CorsMetrics metrics, ILogger<EdgeCorsMiddleware> logger)
{
    private static readonly Func<object, Task> ApplyOnStarting = static state =>
    {
        var (context, service, result) = (ValueTuple<HttpContext, ICorsService, CorsResult>)state;
        var headers = context.Response.Headers;
        headers.Remove(HeaderNames.AccessControlAllowOrigin);
        headers.Remove(HeaderNames.AccessControlAllowCredentials);
        headers.Remove(HeaderNames.AccessControlAllowMethods);
        headers.Remove(HeaderNames.AccessControlAllowHeaders);
        headers.Remove(HeaderNames.AccessControlExposeHeaders);
        headers.Remove(HeaderNames.AccessControlMaxAge);
        service.ApplyResult(result, context.Response);
        return Task.CompletedTask;
    };

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Headers.Origin.Count == 0)
        {
            return next(context);
        }
        var metadata = context.GetEndpoint()?.Metadata;
        var route = metadata?.GetMetadata<ApiRoute>();
        var policy = route is null ? management.Policy : metadata!.GetMetadata<ApiCors>();
        if (policy is null)
        {
            return next(context);
        }
        var result = cors.EvaluatePolicy(context, policy.Policy);
        if (result.IsPreflightRequest)
        {
            return PreflightAsync(context, route, result);
        }
        context.Response.OnStarting(ApplyOnStarting, (context, cors, result));
        return next(context);
    }

    private Task PreflightAsync(HttpContext context, ApiRoute? route, CorsResult result)
    {
        var apiId = route?.ApiId ?? CorsMetrics.ManagementApiId;
        metrics.Preflight(apiId, result.IsOriginAllowed);
        if (!result.IsOriginAllowed)
        {
            CorsLog.PreflightOriginNotAllowed(logger, apiId);
        }
        if (route is not null && context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            tags.Tags.Add(new(ApiCallMiddleware.ApiIdTag, route.ApiId));
            tags.Tags.Add(new(ApiCallMiddleware.OutcomeTag, Outcomes.Preflight));
        }
        cors.ApplyResult(result, context.Response);
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    }
}
