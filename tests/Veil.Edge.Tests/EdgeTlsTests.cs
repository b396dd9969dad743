using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// The edge's TLS listener (docs/grpc-and-http2.md): with a certificate configured, HTTP/2 and
/// HTTP/1.1 by ALPN, TLS 1.3 only; a configuration asking for an older TLS refuses to start.
/// </summary>
public sealed class EdgeTlsTests
{
    [Fact]
    public async Task TlsEndpoint_NegotiatesHttp2ByAlpn_OverTls13_AndRefusesTls12()
    {
        var ct = TestContext.Current.CancellationToken;
        var folder = Directory.CreateTempSubdirectory("veil-tls-");
        try
        {
            var pfx = Path.Combine(folder.FullName, "edge.pfx");
            using (var rsa = RSA.Create(2048))
            {
                var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                var san = new SubjectAlternativeNameBuilder();
                san.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(san.Build());
                using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
                await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test"), ct);
            }
            var port = FreePort.Next();
            await using var edge = new ServiceHost<EdgeOptions>()
                .With("Kestrel:Endpoints:Https:Url", $"https://127.0.0.1:{port}")
                .With("Kestrel:Endpoints:Https:Protocols", "Http1AndHttp2")
                .With("Kestrel:Endpoints:Https:Certificate:Path", pfx)
                .With("Kestrel:Endpoints:Https:Certificate:Password", "test")
                .Start();
            var url = new Uri($"https://127.0.0.1:{port}/nowhere");

            // TLS 1.3 and h2 by ALPN: the edge's own 404 problem comes back over HTTP/2.
            using (var http = Client(SslProtocols.Tls13))
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                using var response = await http.SendAsync(request, ct);
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal(HttpVersion.Version20, response.Version);
                // … and HTTP/1.1 on the same port when the client offers only that.
                using var http1 = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
                using var response1 = await http.SendAsync(http1, ct);
                Assert.Equal(HttpVersion.Version11, response1.Version);
            }
            // TLS 1.2 only: the handshake fails.
            using (var http = Client(SslProtocols.Tls12))
            {
                await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(url, ct));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("Kestrel:Endpoints:Https:SslProtocols:0", "Tls12")]
    [InlineData("Kestrel:EndpointDefaults:SslProtocols:0", "Tls12")]
    [InlineData("Kestrel:Endpoints:Https:SslProtocols:1", "Tls12")]
    public void OlderTlsConfigured_RefusesToStart(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Https:SslProtocols:0"] = "Tls13",
            [key] = value,
        }).Build();
        var error = Assert.Throws<InvalidOperationException>(() => EdgeListeners.ThrowIfWeakTls(configuration));
        Assert.Contains("TLS 1.3 only", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls13Configured_Starts()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Https:SslProtocols:0"] = "Tls13",
            ["Kestrel:Endpoints:Http:Url"] = "http://+:8080",
        }).Build();
        EdgeListeners.ThrowIfWeakTls(configuration);
        Assert.Equal(SslProtocols.Tls13, EdgeListeners.TlsVersion);
    }

    private static HttpClient Client(SslProtocols protocols) => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = protocols,
            // The test's own self-signed certificate.
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
        },
    })
    { Timeout = TimeSpan.FromSeconds(30) };
}
