using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Forwarding;

/// <summary>
/// What the upstream sees. On every route: client-sent <c>X-Veil-*</c>, <c>X-Forwarded-*</c>,
/// <c>Forwarded</c>, <c>X-Original-*</c> and the client-address headers other proxies trust
/// (<c>X-Real-IP</c>, <c>True-Client-IP</c>, <c>CF-Connecting-IP</c>, <c>X-Client-IP</c>) are dropped
/// (YARP's default forwarders, which run after this, then set the edge's own
/// X-Forwarded-For/Proto/Host) and <c>X-Request-Id</c> is the edge's id. On API routes the
/// consumer's Veil credentials are removed (the key, and a Veil session token in
/// <c>Authorization</c>) and the edge states who is calling under which subscription and plan.
/// With tracing on, <c>traceparent</c> is set by YARP's propagator from the edge's span; without,
/// the client's passes through.
/// </summary>
internal sealed class EdgeRequestTransform(byte[] veilIssuer) : RequestTransform
{
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
            if (IsClientSpoofable(name))
            {
                proxyHeaders.Remove(name);
            }
        }

        proxyHeaders.Remove(RequestIdMiddleware.HeaderName);
        proxyHeaders.TryAddWithoutValidation(RequestIdMiddleware.HeaderName, context.HttpContext.TraceIdentifier);

        if (context.HttpContext.Features.Get<ApiCallFeature>() is { } call)
        {
            proxyHeaders.Remove(VeilCredentials.HeaderName);
            var authorization = context.HttpContext.Request.Headers.Authorization;
            if (authorization.Count > 0 && VeilCredentials.IsVeilCredential(authorization, veilIssuer))
            {
                proxyHeaders.Authorization = null;
            }
            Set(proxyHeaders, ConsumerHeader, call.ConsumerId);
            Set(proxyHeaders, SubscriptionHeader, call.SubscriptionId);
            Set(proxyHeaders, PlanHeader, call.PlanId);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Headers only the edge may set: its own, and those a proxy in front of an upstream states
    /// (client address, original URL), which the upstream could trust. One switch on the first
    /// character keeps the common header a single comparison.
    /// </summary>
    internal static bool IsClientSpoofable(string name) => name.Length > 0 && (char)(name[0] | 0x20) switch
    {
        'x' => name.StartsWith("X-Veil-", StringComparison.OrdinalIgnoreCase) ||
               name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase) ||
               name.StartsWith("X-Original-", StringComparison.OrdinalIgnoreCase) ||
               name.Equals("X-Real-IP", StringComparison.OrdinalIgnoreCase) ||
               name.Equals("X-Client-IP", StringComparison.OrdinalIgnoreCase),
        'f' => name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase),
        't' => name.Equals("True-Client-IP", StringComparison.OrdinalIgnoreCase),
        'c' => name.Equals("CF-Connecting-IP", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    private static void Set(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    }
}
