using Microsoft.AspNetCore.Http.Features;
using Veil.Edge.Calls;

namespace Veil.Edge.Routing;

/// <summary>
/// The API's lifecycle, right after routing (and CORS) and before the call begins: a suspended
/// API's calls get 503 api-suspended, a deleted API's calls get 410 api-retired from its sunset (by
/// this edge's clock). Either way the upstream is not called and there is no usage event (the call
/// never starts, as with a 405); the request metric is tagged with the API and the outcome. A
/// deprecated or deleted API's answers carry <c>Deprecation</c> (RFC 9745), <c>Sunset</c>
/// (RFC 8594) and <c>Link: &lt;…&gt;; rel="deprecation"</c> when set, whoever produced them.
/// Active APIs carry no <see cref="RouteLifecycle"/>: one metadata lookup and on.
/// </summary>
internal sealed class ApiLifecycleMiddleware(RequestDelegate next, TimeProvider time, ILogger<ApiLifecycleMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        var lifecycle = endpoint?.Metadata.GetMetadata<RouteLifecycle>();
        if (lifecycle is null)
        {
            return next(context);
        }
        var route = endpoint!.Metadata.GetMetadata<ApiRoute>();
        if (lifecycle.IsGone(time.GetUtcNow()))
        {
            AddDeprecationHeaders(context.Response.Headers, lifecycle);
            return Refuse(context, route, Outcomes.ApiRetired, Problems.ApiRetired);
        }
        if (lifecycle.Suspended)
        {
            AddDeprecationHeaders(context.Response.Headers, lifecycle);
            return Refuse(context, route, Outcomes.ApiSuspended, Problems.ApiSuspended);
        }
        DeprecationHeaders.Apply(context.Response, lifecycle.Deprecation, lifecycle.Sunset, lifecycle.Link);
        return next(context);
    }

    private Task Refuse(HttpContext context, ApiRoute? route, string outcome, Problem problem)
    {
        if (context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            tags.Tags.Add(new(ApiCallMiddleware.ApiIdTag, route?.ApiId));
            tags.Tags.Add(new(ApiCallMiddleware.OutcomeTag, outcome));
        }
        EdgeLog.LifecycleRefused(logger, route?.ApiId ?? "", problem.Status);
        return Problems.WriteAsync(context, problem);
    }

    private static void AddDeprecationHeaders(IHeaderDictionary headers, RouteLifecycle lifecycle) =>
        DeprecationHeaders.Set(headers, lifecycle.Deprecation, lifecycle.Sunset, lifecycle.Link);
}
