using System.Diagnostics.CodeAnalysis;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace Veil.Edge.Routing;

/// <summary>
/// <c>policies.protocol</c> as the cluster's request settings (docs/grpc-and-http2.md). One
/// <see cref="ForwarderRequestConfig"/> per API, built when its config applies.
/// <list type="bullet">
/// <item><c>http1</c> (the default, empty): HTTP/1.1 to the upstream, over TLS too.</item>
/// <item><c>http2</c> and <c>grpc</c>: HTTP/2 only (<see cref="HttpVersionPolicy.RequestVersionExact"/>):
/// with prior knowledge (h2c) to an <c>http://</c> upstream, negotiated by ALPN to an <c>https://</c>
/// one, which fails the call (502) when the upstream offers no h2. gRPC needs it end to end: its
/// trailers and full-duplex streams do not survive HTTP/1.1.</item>
/// </list>
/// The API's timeout is YARP's <see cref="ForwarderRequestConfig.ActivityTimeout"/>, an idle
/// timeout: it restarts on every read or write of the call, so a stream that keeps sending lives
/// as long as it sends, and a call dies only after that long without a byte either way.
/// </summary>
internal static class UpstreamProtocols
{
    public static bool TryCreate(string? protocol, TimeSpan timeout, [NotNullWhen(true)] out ForwarderRequestConfig? config)
    {
        config = protocol switch
        {
            null or "" or "http1" => new ForwarderRequestConfig
            {
                ActivityTimeout = timeout,
                Version = HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            },
            "http2" or "grpc" => new ForwarderRequestConfig
            {
                ActivityTimeout = timeout,
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            },
            _ => null,
        };
        return config is not null;
    }
}
