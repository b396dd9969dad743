using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Veil.Edge.Pipeline;

/// <summary>Adds <see cref="EdgeRequestTransform"/> to every route, management and API alike.</summary>
internal sealed class EdgeTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) => context.RequestTransforms.Add(EdgeRequestTransform.Instance);
}

/// <summary>
/// What the upstream sees. On every route: client-sent <c>X-Veil-*</c>, <c>X-Forwarded-*</c> and
/// <c>Forwarded</c> are dropped (YARP's default forwarders, which run after this, then set the
/// edge's own X-Forwarded-For/Proto/Host) and <c>X-Request-Id</c> is the edge's id. On API routes
/// the consumer's Veil credential is removed and the edge states who is calling under which
/// subscription and plan. With tracing on, <c>traceparent</c> is set by YARP's propagator from the
/// edge's span; without, the client's passes through.
/// </summary>
internal sealed class EdgeRequestTransform : RequestTransform
{
    public static readonly EdgeRequestTransform Instance = new();

    public const string ConsumerHeader = "X-Veil-Consumer";
    public const string SubscriptionHeader = "X-Veil-Subscription";
    public const string PlanHeader = "X-Veil-Plan";

    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        var proxyHeaders = context.ProxyRequest.Headers;
        // Walk the client's headers (YARP copied them already) rather than the outgoing ones, so the
        // common case of nothing to drop allocates nothing. (Headers.Keys would build a set.)
        foreach (var (name, _) in context.HttpContext.Request.Headers)
        {
            if (name.StartsWith("X-Veil-", StringComparison.OrdinalIgnoreCase) ||
                name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase) ||
                name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase))
            {
                proxyHeaders.Remove(name);
            }
        }

        proxyHeaders.Remove(RequestIdMiddleware.HeaderName);
        proxyHeaders.TryAddWithoutValidation(RequestIdMiddleware.HeaderName, context.HttpContext.TraceIdentifier);

        if (context.HttpContext.Features.Get<ApiCallFeature>() is { } call)
        {
            proxyHeaders.Remove(ApiKeyReader.HeaderName);
            if (ApiKeyReader.IsVeilCredential(context.HttpContext.Request.Headers.Authorization))
            {
                proxyHeaders.Authorization = null;
            }
            Set(proxyHeaders, ConsumerHeader, call.ConsumerId);
            Set(proxyHeaders, SubscriptionHeader, call.SubscriptionId);
            Set(proxyHeaders, PlanHeader, call.PlanId);
        }
        return ValueTask.CompletedTask;
    }

    private static void Set(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    }
}
