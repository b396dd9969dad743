using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Calls;

/// <summary>
/// Outermost step of the proxy pipeline, and its only asynchronous wrapper. On every route it writes
/// the problem body for a failed forward that YARP left empty (dead upstream 502, timeout 504, no
/// destination 503 (every target failing its health checks: <c>no-healthy-upstream</c> with
/// <c>Retry-After</c>), unreadable or oversized body 400/413, and 502 "upstream address not allowed",
/// logged for operators, when the SSRF guard refused the upstream's addresses). On API routes
/// (endpoints carrying <see cref="ApiRoute"/>) it first canonicalises the method
/// (<see cref="ApiMethods"/>; any other method is answered 405 here, before any check, forward or
/// metering), then starts the call's <see cref="ApiCallFeature"/>, and when the call ends tags
/// <c>http.server.request.duration</c> with the API and outcome and hands the call to metering
/// (<see cref="IApiCallRecorder"/>, when metering is on).
/// </summary>
internal sealed class ApiCallMiddleware(RequestDelegate next, ILogger<ApiCallMiddleware> logger, IApiCallRecorder? usage = null)
{
    public const string ApiIdTag = "veil.api_id";
    public const string OutcomeTag = "veil.outcome";

    public Task InvokeAsync(HttpContext context)
    {
        var route = context.GetEndpoint()?.Metadata.GetMetadata<ApiRoute>();
        if (route is null)
        {
            return ForwardAsync(context);
        }
        var request = context.Request;
        var method = request.Method;
        var canonical = ApiMethods.Canonicalize(method);
        if (canonical is null)
        {
            return RefuseMethodAsync(context, route);
        }
        if (!ReferenceEquals(canonical, method))
        {
            request.Method = canonical;
            if (ReferenceEquals(canonical, HttpMethods.Head))
            {
                context.Features.Set(ApiMethods.RespelledHead.Instance);
            }
        }
        return CallAsync(context, route);
    }

    /// <summary>405 for a method usage could not meter: not a call (no event), never forwarded.</summary>
    private static Task RefuseMethodAsync(HttpContext context, ApiRoute route)
    {
        if (context.Features.Get<IHttpMetricsTagsFeature>() is { } tags)
        {
            tags.Tags.Add(new(ApiIdTag, route.ApiId));
            tags.Tags.Add(new(OutcomeTag, Outcomes.MethodNotAllowed));
        }
        context.Response.Headers.Allow = ApiMethods.Allow;
        return Problems.WriteAsync(context, Problems.MethodNotAllowed);
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
        var status = RejectedBodyStatus(error) ?? context.Response.StatusCode;
        context.Response.Clear();
        if (error.Error == ForwarderError.NoAvailableDestinations && context.Features.Get<ApiCallFeature>() is not null)
        {
            // Every target is out of rotation: answered at once, retry when the edge next probes.
            context.Response.Headers.RetryAfter = ApiUpstreams.RetryAfterSeconds(context.GetReverseProxyFeature().Cluster.Config)
                .ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problems.WriteAsync(context, Problems.NoHealthyUpstream);
        }
        // Nothing was sent upstream, and the caller learns no more than that the address is refused.
        return Problems.WriteAsync(context, refused is not null ? Problems.UpstreamAddressNotAllowed : Problems.ForStatus(status));
    }

    /// <summary>
    /// The status Kestrel gave a request body it refused while YARP streamed it: a chunked body over
    /// Edge:MaxRequestBodySize fails mid-copy, and YARP reports it as a body error (400) or, when
    /// the upstream send failed first, as a forwarding error (502). The client's request is at
    /// fault either way, so it gets Kestrel's status (413). Only read on the error path.
    /// </summary>
    internal static int? RejectedBodyStatus(IForwarderErrorFeature? error) =>
        error is { Error: not ForwarderError.None, Exception: { } exception } ? BadRequestStatus(exception, depth: 0) : null;

    private static int? BadRequestStatus(Exception? exception, int depth)
    {
        for (; exception is not null && depth < 8; depth++)
        {
            if (exception is BadHttpRequestException bad)
            {
                return bad.StatusCode;
            }
            if (exception is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    if (BadRequestStatus(inner, depth + 1) is { } status)
                    {
                        return status;
                    }
                }
                return null;
            }
            exception = exception.InnerException;
        }
        return null;
    }

    private static string OutcomeOf(IForwarderErrorFeature? error) => error?.Error switch
    {
        null or ForwarderError.None => Outcomes.Authorized,
        _ when AddressNotAllowedException.Find(error.Exception) is not null => Outcomes.UpstreamNotAllowed,
        _ when RejectedBodyStatus(error) is not null => Outcomes.BadRequest,
        ForwarderError.NoAvailableDestinations => Outcomes.NoHealthyUpstream,
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient => Outcomes.ClientAborted,
        _ => Outcomes.UpstreamError,
    };
}
