using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Veil.Edge;

/// <summary>
/// The public listeners' rules (docs/grpc-and-http2.md). Kestrel's endpoints come from
/// configuration: <c>Http</c> (HTTP/1.1, 8080), <c>Grpc</c> (HTTP/2 with prior knowledge, 8082:
/// Kestrel does not detect the HTTP/2 preface on a cleartext <c>Http1AndHttp2</c> endpoint, so h2c
/// needs its own port) and, when a certificate is configured, a TLS endpoint whose ALPN offers h2
/// and http/1.1. Every TLS endpoint accepts TLS 1.3 only (design §6): the default here, and a
/// configuration asking for anything else refuses to start.
/// </summary>
internal static class EdgeListeners
{
    /// <summary>The one TLS version the edge's listeners accept.</summary>
    public const SslProtocols TlsVersion = SslProtocols.Tls13;

    /// <summary>TLS 1.3 on every HTTPS endpoint that does not say otherwise (and none may: <see cref="ThrowIfWeakTls"/>).</summary>
    public static void Configure(KestrelServerOptions kestrel) =>
        kestrel.ConfigureHttpsDefaults(static https => https.SslProtocols = TlsVersion);

    /// <summary>
    /// Refuses <c>Kestrel:EndpointDefaults:SslProtocols</c> or <c>Kestrel:Endpoints:{name}:SslProtocols</c>
    /// naming anything but <c>Tls13</c>: Kestrel would let it win over the edge's default.
    /// </summary>
    public static void ThrowIfWeakTls(IConfiguration configuration)
    {
        var kestrel = configuration.GetSection("Kestrel");
        var sections = kestrel.GetSection("Endpoints").GetChildren().Prepend(kestrel.GetSection("EndpointDefaults"));
        foreach (var section in sections)
        {
            var protocols = section.GetSection("SslProtocols");
            var values = protocols.Value is { } single ? [single] : protocols.GetChildren().Select(c => c.Value ?? "").ToArray();
            foreach (var value in values)
            {
                if (!Enum.TryParse<SslProtocols>(value, ignoreCase: true, out var parsed) || parsed != TlsVersion)
                {
                    throw new InvalidOperationException(
                        $"{protocols.Path} is '{value}': the edge accepts TLS 1.3 only. Remove the setting (TLS 1.3 is the default) or set it to [\"Tls13\"].");
                }
            }
        }
    }
}
