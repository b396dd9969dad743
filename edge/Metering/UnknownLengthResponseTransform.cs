using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Metering;

/// <summary>
/// On API routes, after YARP copied the upstream's headers and before it copies the body: a body
/// of unknown length (chunked) is written through a <see cref="CountingStream"/>, which
/// <see cref="UsageRecorder"/> reads and unwraps.
/// </summary>
internal sealed class UnknownLengthResponseTransform : ResponseTransform
{
    public static readonly UnknownLengthResponseTransform Instance = new();

    public override ValueTask ApplyAsync(ResponseTransformContext context)
    {
        var response = context.HttpContext.Response;
        if (context.ProxyResponse is not null && response.ContentLength is null && response.Body is not CountingStream)
        {
            response.Body = new CountingStream(response.Body);
        }
        return ValueTask.CompletedTask;
    }
}
