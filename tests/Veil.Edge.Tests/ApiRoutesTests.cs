using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.Edge.Routing;

namespace Veil.Edge.Tests;

public sealed class ApiRoutesTests
{
    private static GatewayRoute Route(string slug = "weather", string upstream = "http://127.0.0.1:5900/base", int timeoutMs = 300) =>
        new() { ApiId = "api_1", Slug = slug, UpstreamUrl = upstream, TimeoutMs = timeoutMs, Version = 3, ProviderId = "acc_1" };

    [Fact]
    public void TryCreate_ValidRoute_MapsSlugPrefixTimeoutAndMetadata()
    {
        Assert.True(ApiRoutes.TryCreate(Route(), TimeSpan.FromSeconds(30), out var route, out var cluster, out _));
        Assert.Equal("/weather/{**rest}", route.Match.Path);
        Assert.Equal("api_1", route.Metadata![ApiRoute.ApiIdKey]);
        Assert.True(route.Order > ManagementRoutes.Order);
        Assert.Contains(route.Transforms!, t => t.TryGetValue("PathRemovePrefix", out var prefix) && prefix == "/weather");
        Assert.Equal(TimeSpan.FromMilliseconds(300), cluster.HttpRequest!.ActivityTimeout);
        Assert.Equal("http://127.0.0.1:5900/base", cluster.Destinations!.Single().Value.Address);
        Assert.DoesNotContain(cluster.Destinations!.Keys, id => id.StartsWith(ManagementRoutes.DiscoveryDestinationPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public void TryCreate_NoTimeout_UsesDefault()
    {
        Assert.True(ApiRoutes.TryCreate(Route(timeoutMs: 0), TimeSpan.FromSeconds(30), out _, out var cluster, out _));
        Assert.Equal(TimeSpan.FromSeconds(30), cluster.HttpRequest!.ActivityTimeout);
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("_veil")]
    [InlineData("health")]
    [InlineData("Bad{slug}")]
    [InlineData("a/b")]
    [InlineData("")]
    public void TryCreate_ReservedOrInvalidSlug_IsSkipped(string slug) =>
        Assert.False(ApiRoutes.TryCreate(Route(slug: slug), TimeSpan.FromSeconds(30), out _, out _, out _));

    [Theory]
    [InlineData("ftp://example.com")]
    [InlineData("not a url")]
    [InlineData("http://user:pw@example.com")]
    [InlineData("http://example.com/?q=1")]
    public void TryCreate_BadUpstream_IsSkipped(string upstream) =>
        Assert.False(ApiRoutes.TryCreate(Route(upstream: upstream), TimeSpan.FromSeconds(30), out _, out _, out _));
}
