using System.Net;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Routing;

namespace Veil.Edge.Tests;

/// <summary>policies.protocol as the cluster's HTTP version, and the gRPC form of the edge's problems.</summary>
public sealed class UpstreamProtocolTests
{
    private static GatewayRoute Route(string? protocol)
    {
        var route = new GatewayRoute { ApiId = "api_1", Slug = "greeter", UpstreamUrl = "http://127.0.0.1:5911", TimeoutMs = 300, Version = 1, ProviderId = "acc_1" };
        if (protocol is not null)
        {
            route.Policies = new ApiPolicies { Protocol = protocol };
        }
        return route;
    }

    [Theory]
    [InlineData(null, "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("", "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("http1", "1.1", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("http2", "2.0", HttpVersionPolicy.RequestVersionExact)]
    [InlineData("grpc", "2.0", HttpVersionPolicy.RequestVersionExact)]
    public void TryCreate_Protocol_SetsTheUpstreamHttpVersion_AndKeepsTheTimeout(string? protocol, string version, HttpVersionPolicy policy)
    {
        Assert.True(ApiRoutes.TryCreate(Route(protocol), TimeSpan.FromSeconds(30), out _, out var cluster, out _));
        Assert.Equal(Version.Parse(version), cluster.HttpRequest!.Version);
        Assert.Equal(policy, cluster.HttpRequest.VersionPolicy);
        Assert.Equal(TimeSpan.FromMilliseconds(300), cluster.HttpRequest.ActivityTimeout);
    }

    [Fact]
    public void TryCreate_UnknownProtocol_IsSkipped()
    {
        Assert.False(ApiRoutes.TryCreate(Route("http3"), TimeSpan.FromSeconds(30), out _, out _, out var problem));
        Assert.Equal("the upstream protocol is unknown", problem);
    }

    [Theory]
    [InlineData(401, "16")]
    [InlineData(403, "7")]
    [InlineData(429, "8")]
    [InlineData(413, "8")]
    [InlineData(404, "12")]
    [InlineData(502, "14")]
    [InlineData(503, "14")]
    [InlineData(504, "4")]
    [InlineData(400, "13")]
    public void GrpcStatus_OfTheEdgesStatus(int status, string grpcStatus) =>
        Assert.Equal(grpcStatus, new Problem(status, "detail").GrpcStatus);

    [Fact]
    public void GrpcMessage_IsPercentEncodedUtf8()
    {
        Assert.Equal("plain ASCII, kept: ok", new Problem(401, "plain ASCII, kept: ok").GrpcMessage);
        Assert.Equal("veil_%E2%80%A6 100%25", new Problem(401, "veil_… 100%").GrpcMessage);
        Assert.Equal("line%0Abreak", new Problem(401, "line\nbreak").GrpcMessage);
    }
}
