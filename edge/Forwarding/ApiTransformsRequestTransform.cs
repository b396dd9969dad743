using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Forwarding;

/// <summary>
/// Applies an API's <see cref="ApiTransforms"/> to the request (docs/transforms.md): the path
/// prefix goes before the path left once the slug is removed, then the header changes, in order.
/// Runs after <see cref="EdgeRequestTransform"/> and before <see cref="UpstreamPolicyTransform"/>,
/// so the credentials replace whatever a transform did to their headers, and a signed call's
/// signature covers the rewritten path. One instance per route, built when its config applies.
/// </summary>
internal sealed class ApiTransformsRequestTransform(ApiTransforms transforms) : RequestTransform
{
    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        if (transforms.PathPrefix.HasValue)
        {
            context.Path = transforms.PathPrefix.Add(context.Path);
        }
        var changes = transforms.RequestHeaders;
        if (changes.Count > 0)
        {
            var call = context.HttpContext.Features.Get<ApiCallFeature>();
            var requestId = context.HttpContext.TraceIdentifier;
            foreach (var change in changes)
            {
                switch (change.Action)
                {
                    case HeaderAction.Remove:
                        RemoveHeader(context, change.Name);
                        break;
                    case HeaderAction.Set:
                        RemoveHeader(context, change.Name);
                        AddHeader(context, change.Name, change.Value.Render(call, requestId));
                        break;
                    default:
                        // As YARP's own append: the values already there, then this one.
                        var existing = TakeHeader(context, change.Name);
                        AddHeader(context, change.Name, Microsoft.Extensions.Primitives.StringValues.Concat(existing, change.Value.Render(call, requestId)));
                        break;
                }
            }
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Applies an API's response header changes (docs/transforms.md), in order, to the upstream's
/// response after <see cref="EdgeResponseTransform"/>. The edge's own answers (a failed forward's
/// 502/504, and every refusal before the forward) are not the upstream's and are left as they are.
/// </summary>
internal sealed class ApiTransformsResponseTransform(ApiTransforms transforms) : ResponseTransform
{
    public override ValueTask ApplyAsync(ResponseTransformContext context)
    {
        if (context.ProxyResponse is null)
        {
            return ValueTask.CompletedTask;
        }
        var headers = context.HttpContext.Response.Headers;
        var call = context.HttpContext.Features.Get<ApiCallFeature>();
        var requestId = context.HttpContext.TraceIdentifier;
        foreach (var change in transforms.ResponseHeaders)
        {
            switch (change.Action)
            {
                case HeaderAction.Remove:
                    headers.Remove(change.Name);
                    break;
                case HeaderAction.Set:
                    headers[change.Name] = change.Value.Render(call, requestId);
                    break;
                default:
                    headers.Append(change.Name, change.Value.Render(call, requestId));
                    break;
            }
        }
        return ValueTask.CompletedTask;
    }
}
