using System.Diagnostics;
using Veil.Edge.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Pipeline;

/// <summary>
/// First step of the proxy pipeline: recognises API routes by their metadata, starts the call's
/// <see cref="ApiCallFeature"/>, and when the call ends records its outcome and duration.
/// Management routes pass straight through.
/// </summary>
internal sealed class ApiCallMiddleware(RequestDelegate next, EdgeMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetReverseProxyFeature().Route.Config.Metadata;
        if (metadata is null || !metadata.TryGetValue(ApiRoutes.ApiIdKey, out var apiId))
        {
            await next(context);
            return;
        }

        var call = new ApiCallFeature(apiId, Stopwatch.GetTimestamp());
        context.Features.Set(call);
        try
        {
            await next(context);
        }
        finally
        {
            metrics.Request(apiId, call.Outcome ?? OutcomeOf(context.GetForwarderErrorFeature()), call.StartTimestamp);
        }
    }

    private static string OutcomeOf(IForwarderErrorFeature? error) => error?.Error switch
    {
        null or ForwarderError.None => Outcomes.Authorized,
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient => Outcomes.ClientAborted,
        _ => Outcomes.UpstreamError,
    };
}
