using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>A consistent copy of a <see cref="TargetHealth"/>.</summary>
internal sealed record TargetHealthSnapshot(DestinationHealth State, int ConsecutiveSuccesses, int ConsecutiveFailures,
    DateTimeOffset? LastProbeTime, int? LastStatusCode, string? LastError);
