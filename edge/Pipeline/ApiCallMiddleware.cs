using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Veil.Edge.Routing;
using Veil.Edge.Usage;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Pipeline;

/// <summary>
/// Outermost step of the proxy pipeline, and its only asynchronous wrapper. On every route it writes
/// the problem body for a failed forward that YARP left empty (dead upstream 502, timeout 504, no
/// destination 503, unreadable or oversized body 400/413, and 502 "upstream address not allowed",
/// logged for operators, when the SSRF guard refused the upstream's addresses). On API routes
/// (endpoints carrying <see cref="ApiRoute"/>) it also starts the call's <see cref="ApiCallFeature"/>,
/// and when the call ends tags <c>http.server.request.duration</c> with the API and outcome and
/// hands the call to metering (<see cref="UsageRecorder"/>, when metering is on).
/// </summary>
internal sealed class ApiCallMiddleware(RequestDelegate next, ILogger<ApiCallMiddleware> logger, UsageRecorder? usage = null)
{
    public const string ApiIdTag = "veil.api_id";
    public const string OutcomeTag = "veil.outcome";

    public Task InvokeAsync(HttpContext context)
    {
        var route = context.GetEndpoint()?.Metadata.GetMetadata<ApiRoute>();
        return route is null ? ForwardAsync(context) : CallAsync(context, route);
    }

    private async Task ForwardAsync(HttpContext context)
    {
        await next(context);
        await WriteForwarderErrorAsync(context, context.GetForwarderErrorFeature());
    }

    private async Task CallAsync(HttpContext context, ApiRoute route)
    {
        var call = new ApiCallFeature(route.ApiId, Stopwatch.GetTimestamp());
        context.Features.Set(call);
        var metering = usage?.Start(context) ?? default;
        IForwarderErrorFeature? error = null;
        var failed = true;
        try
        {
            await next(context);
            error = context.GetForwarderErrorFeature();
            await WriteForwarderErrorAsync(context, error);
            failed = false;
        }
        finally
        {
            if (failed)
            {
                error = context.GetForwarderErrorFeature();
            }
            if (context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
            {
                tags.Tags.Add(new(ApiIdTag, route.ApiId));
                tags.Tags.Add(new(OutcomeTag, call.Outcome ?? OutcomeOf(error)));
            }
            usage?.Record(context, route, call, error, metering, failed);
        }
    }

    private Task WriteForwarderErrorAsync(HttpContext context, IForwarderErrorFeature? error)
    {
        if (error is null)
        {
            return Task.CompletedTask;
        }
        var refused = AddressNotAllowedException.Find(error.Exception);
        if (refused is not null)
        {
            var route = context.GetEndpoint()?.Metadata.GetMetadata<ApiRoute>();
            EdgeLog.UpstreamAddressRefused(logger, route?.ApiId ?? "", refused.Host, string.Join(", ", refused.Addresses));
        }
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }
        var status = context.Response.StatusCode;
        context.Response.Clear();
        // Nothing was sent upstream, and the caller learns no more than that the address is refused.
        return Problems.WriteAsync(context, refused is not null ? Problems.UpstreamAddressNotAllowed : Problems.ForStatus(status));
    }

    private static string OutcomeOf(IForwarderErrorFeature? error) => error?.Error switch
    {
        null or ForwarderError.None => Outcomes.Authorized,
        _ when AddressNotAllowedException.Find(error.Exception) is not null => Outcomes.UpstreamNotAllowed,
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient => Outcomes.ClientAborted,
        _ => Outcomes.UpstreamError,
    };
}
