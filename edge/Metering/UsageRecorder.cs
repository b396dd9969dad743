using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Metering;

/// <summary>
/// Metering of API calls, driven by <see cref="ApiCallMiddleware"/> (as its <see cref="IApiCallRecorder"/>): counts the bytes in and
/// out, and when the call is over hands one <see cref="UsageRecord"/> to the spool (never waiting):
/// the call's own fields, and what it shares with other calls by reference, so that the request
/// path allocates no event message (the spool writer encodes the shared part once per group).
/// Response bodies are counted from their Content-Length; only a body without one goes through a
/// counting stream (<see cref="UnknownLengthResponseTransform"/>), so the common response keeps
/// Kestrel's direct write path. Whether the call is billable follows <see cref="IsBillable"/>.
/// </summary>
internal sealed class UsageRecorder(UsageSpool spool, TimeProvider time) : IApiCallRecorder
{
    /// <summary>Notes the call's start; a request body of unknown length is counted as it is read.</summary>
    public IApiCallRecorder.Started Start(HttpContext context)
    {
        var request = context.Request;
        CountingStream? requestBody = null;
        if (request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true })
        {
            requestBody = new CountingStream(request.Body);
            request.Body = requestBody;
        }
        return new IApiCallRecorder.Started(time.GetUtcNow(), requestBody);
    }

    /// <summary>Spools the call's event; <paramref name="failed"/> when the pipeline threw.</summary>
    public void Record(HttpContext context, ApiRoute route, ApiCallFeature call, IForwarderErrorFeature? error, in IApiCallRecorder.Started started, bool failed)
    {
        var request = context.Request;
        var response = context.Response;
        // The upstream's Content-Length, or what UnknownLengthResponseTransform counted for a body
        // without one (a body cut off mid-copy reports its declared length).
        long bytesOut;
        if (response.Body is CountingStream counted)
        {
            bytesOut = counted.Count;
            response.Body = counted.Inner;
        }
        else
        {
            bytesOut = HttpMethods.IsHead(request.Method) ? 0 : response.ContentLength ?? 0;
        }
        // Entitled or not, the subscription's terms as the edge enforced them travel by reference.
        var shared = UsageContextKey.Of(route, request.Method, call);
        var record = new UsageRecord(
            shared,
            Ids.NewEventId(started.OccurredAt),
            started.OccurredAt.ToUnixTimeMilliseconds(),
            failed && !response.HasStarted ? StatusCodes.Status500InternalServerError : response.StatusCode,
            (long)Stopwatch.GetElapsedTime(call.StartTimestamp).TotalMilliseconds,
            request.ContentLength ?? started.RequestBody?.Count ?? 0,
            bytesOut,
            shared.SubscriptionId is not null && !failed && IsBillable(call, error),
            context.TraceIdentifier,
            CallPath(request));
        spool.TryEnqueue(record);
    }

    /// <summary>Longest path a usage event carries (usage's limit); a longer one is cut.</summary>
    internal const int MaxPathLength = 512;

    /// <summary>
    /// The path for the call log, as the client sent it (percent-encoded; a decoded <c>%3F</c> is
    /// encoded again, so it never holds a "?" or "#"), never the query string. Kestrel's decoded
    /// path is returned as it is when nothing needs encoding, which is the common case: no allocation.
    /// </summary>
    internal static string CallPath(HttpRequest request)
    {
        var path = request.PathBase.HasValue ? (request.PathBase + request.Path).ToUriComponent() : request.Path.ToUriComponent();
        if (path.Length <= MaxPathLength)
        {
            return path.Length == 0 ? "/" : path;
        }
        // Never cut inside a %XX escape.
        var end = MaxPathLength;
        var percent = path.LastIndexOf('%', end - 1, 2);
        return path[..(percent >= 0 ? percent : end)];
    }

    /// <summary>
    /// Billable = the call was entitled, no edge step refused it, and the response the client got
    /// was produced by the upstream, whatever its status (a 500 from the provider is billed, as the
    /// provider did the work). Responses the edge generated itself are not: 401, 403, 429 (rate
    /// limit, quota), 503 with an auth dependency down, and the forwarding errors (502 unreachable
    /// upstream, 504 upstream timeout, 503 no destination, 400/413 unreadable body, client gone
    /// before the response). A call whose upstream response was cut off mid-body is billable.
    /// </summary>
    internal static bool IsBillable(ApiCallFeature? call, IForwarderErrorFeature? error)
    {
        if (call is null || !call.Billable || call.Outcome is not null || call.SubscriptionId is null)
        {
            return false;
        }
        return error?.Error switch
        {
            null or ForwarderError.None => true,
            // The upstream's status line and headers reached the client; only the body copy failed.
            ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient or ForwarderError.ResponseBodyDestination
                or ForwarderError.UpgradeRequestClient or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestDestination
                or ForwarderError.UpgradeResponseClient or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseDestination => true,
            _ => false,
        };
    }
}
