using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Tests;

/// <summary>
/// The edge checks an API's CORS policy and transforms again before it applies a config
/// (<see cref="UpstreamPolicy.TryCreate"/>): one catalog should have refused is not served rather
/// than served half-applied; and a value template fills its placeholders.
/// </summary>
public sealed class ApiPolicyRecheckTests
{
    private static GatewayRoute Route(Action<ApiPolicies> configure)
    {
        var route = new GatewayRoute { ApiId = "api_1", Slug = "weather", UpstreamUrl = "https://upstream.example.com", Policies = new ApiPolicies() };
        configure(route.Policies);
        return route;
    }

    [Theory]
    [InlineData("set", "X-Veil-Consumer", "forged")]
    [InlineData("set", "Transfer-Encoding", "chunked")]
    [InlineData("set", "X-Ok", "a\r\nInjected: 1")]
    [InlineData("set", "X-Ok", "{account_id}")]
    [InlineData("rename", "X-Ok", "x")]
    public void BadRequestTransform_RouteNotServed(string action, string name, string value)
    {
        var route = Route(p => p.Transforms = new TransformPolicy { RequestHeaders = { new HeaderTransform { Action = action, Name = name, Value = value } } });

        Assert.False(UpstreamPolicy.TryCreate(route, out _, out var problem));
        Assert.Contains("header transform", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Set-Cookie")]
    [InlineData("Access-Control-Allow-Origin")]
    [InlineData("RateLimit")]
    public void ReservedResponseHeader_RouteNotServed(string name)
    {
        var route = Route(p => p.Transforms = new TransformPolicy { ResponseHeaders = { new HeaderTransform { Action = "remove", Name = name } } });

        Assert.False(UpstreamPolicy.TryCreate(route, out _, out _));
    }

    [Theory]
    [InlineData("http://app.example.com", false)]
    [InlineData("https://*.example.com", true)]
    public void CorsOrigins_CheckedAgain_CredentialsOnlyWithExactOrigins(string origin, bool credentials)
    {
        var route = Route(p => p.Cors = new CorsPolicy { AllowedOrigins = { origin }, AllowCredentials = credentials });

        Assert.False(UpstreamPolicy.TryCreate(route, out _, out var problem));
        Assert.Contains("CORS origins", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void GoodPolicies_Built_WithAFingerprintThatChangesWithThem()
    {
        var cors = Route(p => p.Cors = new CorsPolicy { AllowedOrigins = { "https://app.example.com" } });
        var transforms = Route(p => p.Transforms = new TransformPolicy { PathPrefix = "/v2" });

        Assert.True(UpstreamPolicy.TryCreate(cors, out var withCors, out _));
        Assert.True(UpstreamPolicy.TryCreate(transforms, out var withTransforms, out _));
        Assert.True(UpstreamPolicy.TryCreate(Route(_ => { }), out var none, out _));

        Assert.NotNull(withCors.Cors);
        Assert.False(withCors.HasCredentials);
        Assert.Equal("/v2", withTransforms.Transforms!.PathPrefix.Value);
        Assert.True(none.IsEmpty);
        Assert.NotEqual(withCors.Fingerprint, withTransforms.Fingerprint);
    }

    [Fact]
    public void ValueTemplate_FillsPlaceholders_LiteralValueIsOneString()
    {
        var call = new ApiCallFeature("api_1", 0) { ConsumerId = "acc_1", PlanId = "plan_2" };
        var template = new ValueTemplate(HeaderTransformRules.Parse("c={consumer_id};p={plan_id}{request_id}!")!);
        var literal = new ValueTemplate(HeaderTransformRules.Parse("fixed value")!);

        Assert.Equal("c=acc_1;p=plan_2req9!", template.Render(call, "req9"));
        Assert.Equal("c=;p=req9!", template.Render(null, "req9"));
        Assert.Same(literal.Render(call, "a"), literal.Render(call, "b"));
    }
}
