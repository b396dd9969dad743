using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// Catalog's rules for policies.cors (docs/cors.md) and policies.transforms (docs/transforms.md):
/// a good policy is stored as sent; each bad field is named, with the proto field path.
/// </summary>
public sealed class CorsAndTransformsValidationTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    private static CreateApiRequest Create(ApiPolicies policies) => new()
    {
        Slug = CatalogFixture.UniqueSlug(),
        Name = "Weather",
        UpstreamUrl = "https://upstream.example.com",
        Policies = policies,
    };

    private static CorsPolicy Cors(params string[] origins)
    {
        var cors = new CorsPolicy();
        cors.AllowedOrigins.AddRange(origins);
        return cors;
    }

    private static HeaderTransform Header(string action, string name, string value = "") => new() { Action = action, Name = name, Value = value };

    [Fact]
    public async Task GoodCorsAndTransforms_StoredAsSent()
    {
        var owner = await fixture.SignUpProviderAsync();
        var cors = Cors("https://app.example.com", "https://*.example.org", "http://localhost:5173");
        cors.AllowedMethods.AddRange(["GET", "POST"]);
        cors.AllowedHeaders.AddRange(["Authorization", "X-Api-Key", "X-Trace"]);
        cors.ExposedHeaders.Add("X-Request-Id");
        cors.MaxAgeSeconds = 0;
        var transforms = new TransformPolicy { PathPrefix = "/v2/public" };
        transforms.RequestHeaders.AddRange([Header("set", "X-Tenant", "consumer {consumer_id} on {plan_id}"), Header("remove", "Cookie"), Header("append", "Accept-Language", "fr")]);
        transforms.ResponseHeaders.AddRange([Header("set", "X-Served-By", "veil/{request_id}"), Header("remove", "Server")]);

        var api = (await Client.CreateApiAsync(Create(new ApiPolicies { Cors = cors, Transforms = transforms }), owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(cors, api.Policies.Cors);
        Assert.True(api.Policies.Cors.HasMaxAgeSeconds);
        Assert.Equal(transforms, api.Policies.Transforms);
    }

    [Fact]
    public async Task BadCors_EveryBadFieldNamed()
    {
        var owner = await fixture.SignUpProviderAsync();
        var cors = Cors(
            "http://app.example.com",          // 0: not https
            "https://app.example.com/",        // 1: trailing slash (a path)
            "https://*.com",                   // 2: pattern too wide
            "https://a.*.example.com",         // 3: * not the whole first label
            "https://App.Example.com",         // 4: upper case
            "https://192.168.1.10",            // 5: an IP address
            "https://ok.example.com",          // 6: fine
            "https://ok.example.com",          // 7: twice
            "*",                               // 8: not alone
            "https://app.example.com:99999");  // 9: port out of range
        cors.AllowedMethods.AddRange(["GET", "get", "TRACE", "GET"]);
        cors.AllowedHeaders.AddRange(["X-Ok", "Bad Header", "x-ok"]);
        cors.ExposedHeaders.Add("X:Colon");
        cors.MaxAgeSeconds = 86401;

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Cors = cors }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(
            [
                "policies.cors.allowed_headers[1]", "policies.cors.allowed_headers[2]",
                "policies.cors.allowed_methods[1]", "policies.cors.allowed_methods[2]", "policies.cors.allowed_methods[3]",
                "policies.cors.allowed_origins[0]", "policies.cors.allowed_origins[1]", "policies.cors.allowed_origins[2]",
                "policies.cors.allowed_origins[3]", "policies.cors.allowed_origins[4]", "policies.cors.allowed_origins[5]",
                "policies.cors.allowed_origins[7]", "policies.cors.allowed_origins[8]", "policies.cors.allowed_origins[9]",
                "policies.cors.exposed_headers[0]", "policies.cors.max_age_seconds",
            ],
            fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task CorsCredentials_NeedExactOrigins_OtherFieldsNeedOrigins_TooManyOrigins()
    {
        var owner = await fixture.SignUpProviderAsync();
        var credentials = Cors("https://app.example.com", "https://*.example.org");
        credentials.AllowCredentials = true;
        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Cors = credentials }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.cors.allowed_origins[1]"], fields);

        var anyWithCredentials = Cors("*");
        anyWithCredentials.AllowCredentials = true;
        fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Cors = anyWithCredentials }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.cors.allowed_origins[0]"], fields);

        var noOrigins = new CorsPolicy { MaxAgeSeconds = 60 };
        fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Cors = noOrigins }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.cors.allowed_origins"], fields);

        var many = Cors([.. Enumerable.Range(0, 33).Select(i => $"https://o{i}.example.com")]);
        fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Cors = many }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.cors.allowed_origins"], fields);

        // "*" alone, without credentials, is accepted: every origin.
        var any = (await Client.CreateApiAsync(Create(new ApiPolicies { Cors = Cors("*") }), owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(["*"], any.Policies.Cors.AllowedOrigins);
    }

    [Fact]
    public async Task BadTransforms_EveryBadFieldNamed()
    {
        var owner = await fixture.SignUpProviderAsync();
        var transforms = new TransformPolicy { PathPrefix = "/v2/../admin" };
        transforms.RequestHeaders.AddRange(
        [
            Header("replace", "X-Ok", "1"),                     // 0: unknown action
            Header("set", "X-Veil-Consumer", "forged"),         // 1: Veil's own
            Header("set", "Connection", "close"),               // 2: hop-by-hop
            Header("set", "X-Request-Id", "mine"),              // 3: the edge's
            Header("set", "Bad Name", "1"),                     // 4: not a token
            Header("set", "X-Value", "a\r\nInjected: 1"),       // 5: control characters
            Header("set", "X-Place", "{account_id}"),           // 6: unknown placeholder
            Header("remove", "X-Gone", "value"),                // 7: remove with a value
            Header("set", "X-Long", new string('a', 1025)),     // 8: too long
            Header("append", "X-Empty", ""),                    // 9: empty value
            Header("set", "Content-Length", "1"),               // 10: framing
            Header("set", "X-Unicode", "caf\u00e9"),            // 11: non-ASCII
        ]);
        transforms.ResponseHeaders.AddRange(
        [
            Header("set", "Set-Cookie", "a=b"),                 // 0: cookies on the edge's domain
            Header("remove", "Access-Control-Allow-Origin"),    // 1: CORS is the edge's
            Header("set", "RateLimit-Policy", "x"),             // 2: the edge's
            Header("remove", "Retry-After"),                    // 3: the edge's
            Header("set", "X-Fine", "ok {request_id}"),         // 4: fine
            Header("set", "X-Content-Type-Options", "none"),    // 5: nosniff is the edge's
        ]);

        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Transforms = transforms }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(
            [
                "policies.transforms.path_prefix",
                "policies.transforms.request_headers[0].action", "policies.transforms.request_headers[10].name",
                "policies.transforms.request_headers[11].value",
                "policies.transforms.request_headers[1].name", "policies.transforms.request_headers[2].name",
                "policies.transforms.request_headers[3].name", "policies.transforms.request_headers[4].name",
                "policies.transforms.request_headers[5].value", "policies.transforms.request_headers[6].value",
                "policies.transforms.request_headers[7].value", "policies.transforms.request_headers[8].value",
                "policies.transforms.request_headers[9].value",
                "policies.transforms.response_headers[0].name", "policies.transforms.response_headers[1].name",
                "policies.transforms.response_headers[2].name", "policies.transforms.response_headers[3].name",
                "policies.transforms.response_headers[5].name",
            ],
            fields.Order(StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [InlineData("v2")]
    [InlineData("/v2/")]
    [InlineData("/v2?x=1")]
    [InlineData("/v2#top")]
    [InlineData("/v2//x")]
    [InlineData("/v2/%2e%2e")]
    [InlineData("/")]
    public async Task BadPathPrefix_Refused(string prefix)
    {
        var owner = await fixture.SignUpProviderAsync();
        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(
            Create(new ApiPolicies { Transforms = new TransformPolicy { PathPrefix = prefix } }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.transforms.path_prefix"], fields);
    }

    [Fact]
    public async Task TooManyHeaderTransforms_Refused()
    {
        var owner = await fixture.SignUpProviderAsync();
        var transforms = new TransformPolicy();
        transforms.RequestHeaders.AddRange(Enumerable.Range(0, 21).Select(i => Header("set", $"X-H{i}", "1")));
        var fields = await Expect.FieldErrorsAsync(() => Client.CreateApiAsync(Create(new ApiPolicies { Transforms = transforms }), owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["policies.transforms.request_headers"], fields);
    }
}
