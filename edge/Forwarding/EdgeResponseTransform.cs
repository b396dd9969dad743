using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Forwarding;

/// <summary>
/// On API routes, after YARP copied the upstream's response headers (and on its error paths, with
/// no upstream response): <c>X-Content-Type-Options: nosniff</c>, so a browser never renders an
/// API's JSON or text as HTML; and, unless <see cref="EdgeOptions.DropUpstreamSetCookie"/> is off,
/// no <c>Set-Cookie</c> from the provider, whose cookies would otherwise land on the edge's domain,
/// shared by every API behind it.
/// </summary>
internal sealed class EdgeResponseTransform(bool dropSetCookie) : ResponseTransform
{
    public override ValueTask ApplyAsync(ResponseTransformContext context)
    {
        var headers = context.HttpContext.Response.Headers;
        if (dropSetCookie && headers.SetCookie.Count > 0)
        {
            headers.SetCookie = default;
        }
        headers.XContentTypeOptions = Problems.NoSniff;
        // A HEAD spelled "head" is no HEAD to Kestrel: it would expect the upstream's Content-Length
        // in body bytes and answer 500 when none come. Without the length it sends Content-Length: 0.
        var http = context.HttpContext;
        if (HttpMethods.IsHead(http.Request.Method) && http.Features.Get<ApiMethods.RespelledHead>() is not null)
        {
            http.Response.ContentLength = null;
        }
        return ValueTask.CompletedTask;
    }
}
