using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Calls;

/// <summary>
/// Metering as the call step drives it (<see cref="ApiCallMiddleware"/>): told when an API call
/// starts and when it ends. Implemented in <c>Metering/</c>; absent when metering is off.
/// </summary>
internal interface IApiCallRecorder
{
    /// <summary>Notes the call's start; a request body of unknown length is counted as it is read.</summary>
    Started Start(HttpContext context);

    /// <summary>Records the call once it is over; <paramref name="failed"/> when the pipeline threw.</summary>
    void Record(HttpContext context, ApiRoute route, ApiCallFeature call, IForwarderErrorFeature? error, in Started started, bool failed);

    /// <summary>What metering notes when an API call starts.</summary>
    public readonly record struct Started(DateTimeOffset OccurredAt, CountingStream? RequestBody);
}
