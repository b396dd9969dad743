using Veil.Edge.Calls;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Forwarding;

/// <summary>
/// Applies an API's <see cref="UpstreamPolicy"/> to each call, after <see cref="EdgeRequestTransform"/>
/// (which dropped any client-sent <c>X-Veil-*</c>, the signature included): credential headers
/// replace any the consumer sent under the same name, credential query parameters replace any of
/// the same name, and a signed API's call gets <c>X-Veil-Signature</c> over the request target as
/// the upstream will receive it (this transform sets the request URI, so nothing changes it after).
/// One instance per route, built when the route's config applies: the values and keys are ready.
/// </summary>
internal sealed class UpstreamPolicyTransform(UpstreamPolicy policy, TimeProvider time) : RequestTransform
{
    private readonly CallSignature.Keys _keys = new(policy.SigningKeys);

    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        var headers = context.ProxyRequest.Headers;
        foreach (var (name, value) in policy.Headers)
        {
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, value);
        }
        if (policy.Query.Count > 0)
        {
            foreach (var (name, value) in policy.Query)
            {
                context.Query.Collection[name] = value;
            }
        }
        if (_keys.Count > 0)
        {
            var uri = RequestUtilities.MakeDestinationAddress(context.DestinationPrefix, context.Path, context.Query.QueryString);
            context.ProxyRequest.RequestUri = uri;
            var call = context.HttpContext.Features.Get<ApiCallFeature>();
            headers.TryAddWithoutValidation(CallSignature.HeaderName, CallSignature.Create(
                _keys,
                time.GetUtcNow().ToUnixTimeSeconds(),
                context.ProxyRequest.Method.Method,
                uri.PathAndQuery,
                call?.ConsumerId ?? "",
                call?.SubscriptionId ?? "",
                call?.PlanId ?? "",
                context.HttpContext.TraceIdentifier));
        }
        return ValueTask.CompletedTask;
    }
}
