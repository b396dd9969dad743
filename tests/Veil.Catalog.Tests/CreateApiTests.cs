using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

public sealed class CreateApiTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CreateApiRequest Valid(string? slug = null) => new()
    {
        Slug = slug ?? CatalogFixture.UniqueSlug(),
        Name = "Weather",
        Description = "Forecasts for any city.",
        UpstreamUrl = "https://weather.example.com/v1",
        TimeoutMs = 5000,
    };

    [Fact]
    public async Task CreateApi_Provider_StoresVersionOne()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.OpenapiDocument = """{"openapi":"3.1.0"}""";

        var api = (await fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.StartsWith("api_", api.Id);
        Assert.Equal(24, api.Id.Length);
        Assert.Equal(request.Slug, api.Slug);
        Assert.Equal(provider.Id, api.ProviderId);
        Assert.Equal(1, api.CurrentVersion);
        Assert.Equal("https://weather.example.com/v1", api.UpstreamUrl);
        Assert.Equal(5000, api.TimeoutMs);
        Assert.Equal(request.OpenapiDocument, api.OpenapiDocument);
        Assert.Equal(api.CreateTime, api.UpdateTime);
        var fetched = (await fixture.Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, provider.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(api, fetched);
    }

    [Fact]
    public async Task CreateApi_TimeoutZero_UsesDefault()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.TimeoutMs = 0;

        var api = (await fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(30_000, api.TimeoutMs);
    }

    [Fact]
    public async Task CreateApi_Rest_ReturnsApiAsJson()
    {
        var provider = await fixture.SignUpProviderAsync();
        using var rest = fixture.Rest(provider);
        var slug = CatalogFixture.UniqueSlug();

        using var response = await rest.PostAsJsonAsync("v1/apis",
            new { slug, name = "Weather", upstreamUrl = "https://weather.example.com", timeoutMs = 100 }, Ct);

        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        var api = body.GetProperty("api");
        Assert.Equal(slug, api.GetProperty("slug").GetString());
        Assert.Equal(provider.Id, api.GetProperty("providerId").GetString());
        Assert.Equal("1", api.GetProperty("currentVersion").GetRawText().Trim('"'));
        Assert.Equal(100, api.GetProperty("timeoutMs").GetInt32());
    }

    [Fact]
    public async Task CreateApi_Anonymous_Unauthenticated()
    {
        await Expect.StatusAsync(StatusCode.Unauthenticated,
            () => fixture.Client.CreateApiAsync(Valid(), deadline: CatalogFixture.Deadline, cancellationToken: Ct).ResponseAsync);

        using var rest = fixture.Rest();
        using var response = await rest.PostAsJsonAsync("v1/apis", new { slug = CatalogFixture.UniqueSlug(), name = "x", upstreamUrl = "https://x.example.com" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task CreateApi_InvalidToken_Unauthenticated()
    {
        var forged = new TestAccount("acc_nobody", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhY2Nfbm9ib2R5In0.c2lnbmF0dXJl");

        await Expect.StatusAsync(StatusCode.Unauthenticated,
            () => fixture.Client.CreateApiAsync(Valid(), forged.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
    }

    [Fact]
    public async Task CreateApi_Consumer_PermissionDenied()
    {
        var consumer = await fixture.SignUpConsumerAsync();

        await Expect.StatusAsync(StatusCode.PermissionDenied,
            () => fixture.Client.CreateApiAsync(Valid(), consumer.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        using var rest = fixture.Rest(consumer);
        using var response = await rest.PostAsJsonAsync("v1/apis", new { slug = CatalogFixture.UniqueSlug(), name = "x", upstreamUrl = "https://x.example.com" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task CreateApi_Admin_OwnsTheApi()
    {
        var api = (await fixture.Client.CreateApiAsync(Valid(), fixture.Admin.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(fixture.Admin.Id, api.ProviderId);
    }

    [Fact]
    public async Task CreateApi_DuplicateSlug_AlreadyExists()
    {
        var first = await fixture.SignUpProviderAsync();
        var second = await fixture.SignUpProviderAsync();
        var slug = CatalogFixture.UniqueSlug();
        await fixture.Client.CreateApiAsync(Valid(slug), first.Headers, CatalogFixture.Deadline, Ct);

        await Expect.StatusAsync(StatusCode.AlreadyExists,
            () => fixture.Client.CreateApiAsync(Valid(slug), second.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        using var rest = fixture.Rest(first);
        using var response = await rest.PostAsJsonAsync("v1/apis", new { slug, name = "Again", upstreamUrl = "https://x.example.com" }, Ct);
        await Expect.ProblemAsync(response, HttpStatusCode.Conflict);
    }

    public static TheoryData<string, string, string> InvalidSlugs => new()
    {
        { "too short", "ab", "slug" },
        { "too long", "a" + new string('b', 63), "slug" },
        { "empty", "", "slug" },
        { "upper case", "Weather", "slug" },
        { "starts with digit", "1weather", "slug" },
        { "starts with hyphen", "-weather", "slug" },
        { "ends with hyphen", "weather-", "slug" },
        { "double hyphen", "wea--ther", "slug" },
        { "underscore", "wea_ther", "slug" },
        { "dot", "wea.ther", "slug" },
        { "non-ascii", "wéather", "slug" },
        { "management api version", "v1", "slug" },
        { "future api version", "v42", "slug" },
        { "reserved openapi", "openapi", "slug" },
        { "reserved health", "health", "slug" },
        { "reserved alive", "alive", "slug" },
        { "reserved metrics", "metrics", "slug" },
        { "reserved api", "api", "slug" },
        { "reserved apis", "apis", "slug" },
        { "reserved admin", "admin", "slug" },
        { "reserved docs", "docs", "slug" },
    };

    [Theory]
    [MemberData(nameof(InvalidSlugs))]
    public async Task CreateApi_InvalidSlug_FieldError(string because, string slug, string field)
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.Slug = slug;

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.True(fields.SequenceEqual([field]), $"{because}: {string.Join(",", fields)}");
    }

    public static TheoryData<string, string> InvalidUpstreams => new()
    {
        { "empty", "" },
        { "not a url", "weather service" },
        { "relative", "/v1/weather" },
        { "no scheme", "weather.example.com" },
        { "ftp", "ftp://weather.example.com" },
        { "file", "file:///etc/passwd" },
        { "user info", "https://user:secret@weather.example.com" },
        { "empty user info", "https://@weather.example.com" },
        { "fragment", "https://weather.example.com/v1#top" },
        { "leading space", " https://weather.example.com" },
        { "loopback", "http://127.0.0.1:8080" },
        { "loopback range", "http://127.8.9.10" },
        { "localhost", "http://localhost:5900" },
        { "localhost upper case with dot", "http://LOCALHOST./" },
        { "localhost subdomain", "http://weather.localhost" },
        { "private 10/8", "http://10.1.2.3" },
        { "private 172.16/12 low", "http://172.16.0.1" },
        { "private 172.16/12 high", "http://172.31.255.255" },
        { "private 192.168/16", "https://192.168.1.10/api" },
        { "link-local metadata", "http://169.254.169.254/latest/meta-data" },
        { "carrier-grade NAT metadata", "http://100.100.100.200/latest/meta-data" },
        { "unspecified", "http://0.0.0.0:80" },
        { "ipv6 loopback", "http://[::1]:8080" },
        { "ipv6 unspecified", "http://[::]/" },
        { "ipv6 unique local fc", "http://[fc00::1]" },
        { "ipv6 unique local fd", "http://[fd12:3456::1]" },
        { "ipv6 link-local", "http://[fe80::1]" },
        { "ipv4-mapped loopback", "http://[::ffff:127.0.0.1]" },
        { "decimal loopback", "http://2130706433/" },
        { "dotless internal name", "http://identity:5102" },
        { "single-label cluster service", "http://identity:5101" },
        { "name.namespace cluster service", "http://identity.veil:5101" },
        { "name.namespace.svc", "http://identity.veil.svc/" },
        { "nat64 of loopback", "http://[64:ff9b::7f00:1]/" },
        { "6to4 of metadata", "http://[2002:a9fe:a9fe::1]/" },
        { "ipv4-compatible ipv6", "http://[::127.0.0.1]/" },
        { "ipv6 documentation", "http://[2001:db8::1]/" },
        { "benchmarking 198.18/15", "http://198.19.0.1/" },
        { "ietf 192.0.0/24", "http://192.0.0.170/" },
        { "multicast", "http://239.1.2.3/" },
        { "reserved 240/4", "http://240.0.0.1/" },
        { "broadcast", "http://255.255.255.255/" },
        { "cloud metadata name", "http://metadata.google.internal/computeMetadata/v1" },
        { "cluster service", "http://catalog.veil.svc.cluster.local:5202" },
        { "mdns", "http://printer.local" },
    };

    [Theory]
    [MemberData(nameof(InvalidUpstreams))]
    public async Task CreateApi_InvalidUpstream_FieldError(string because, string upstream)
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.UpstreamUrl = upstream;

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.True(fields.SequenceEqual(["upstream_url"]), $"{because}: {string.Join(",", fields)}");
    }

    [Theory]
    [InlineData("https://172.32.0.1/")]
    [InlineData("http://172.15.255.255")]
    [InlineData("https://192.169.0.1")]
    [InlineData("https://[2606:4700::1]:8443/v1?tenant=a")]
    [InlineData("http://api.example.com")]
    [InlineData("https://example.com/v1")]
    [InlineData("http://localhost.example.com")]
    public async Task CreateApi_PublicUpstream_Accepted(string upstream)
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.UpstreamUrl = upstream;

        var api = (await fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(upstream, api.UpstreamUrl);
    }

    [Theory]
    [InlineData("name", "")]
    [InlineData("name", "   ")]
    [InlineData("name", "101")]
    [InlineData("description", "10001")]
    [InlineData("timeout_ms", "99")]
    [InlineData("timeout_ms", "120001")]
    [InlineData("timeout_ms", "-1")]
    [InlineData("openapi_document", "1048577")]
    public async Task CreateApi_InvalidField_FieldError(string field, string value)
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        switch (field)
        {
            case "name":
                request.Name = int.TryParse(value, out var length) ? new string('n', length) : value;
                break;
            case "description":
                request.Description = new string('d', int.Parse(value));
                break;
            case "timeout_ms":
                request.TimeoutMs = int.Parse(value);
                break;
            case "openapi_document":
                request.OpenapiDocument = new string('o', int.Parse(value));
                break;
        }

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal([field], fields);
    }

    [Fact]
    public async Task CreateApi_OpenApiDocumentOverOneMiBInUtf8_FieldError()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = Valid();
        request.OpenapiDocument = new string('é', 524_289); // 2 bytes each in UTF-8: 1 MiB + 2 bytes

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);

        Assert.Equal(["openapi_document"], fields);
    }

    [Fact]
    public async Task CreateApi_LimitsExactly_Accepted()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest
        {
            Slug = "a" + Guid.NewGuid().ToString("N") + new string('z', 30), // 63 characters
            Name = new string('n', 100),
            Description = new string('d', 10_000),
            UpstreamUrl = "http://weather.example.com",
            TimeoutMs = 120_000,
            OpenapiDocument = new string('o', 1024 * 1024),
        };

        var api = (await fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(63, api.Slug.Length);
        Assert.Equal(120_000, api.TimeoutMs);
        var shortest = Valid("a" + Guid.NewGuid().ToString("N")[..2]);
        shortest.TimeoutMs = 100;
        Assert.Equal(100, (await fixture.Client.CreateApiAsync(shortest, provider.Headers, CatalogFixture.Deadline, Ct)).Api.TimeoutMs);
    }

    [Fact]
    public async Task CreateApi_ManyInvalidFields_ReportsEveryOneAtOnce()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = "V1", Name = "", Description = new string('d', 10_001), UpstreamUrl = "ftp://x", TimeoutMs = 5, OpenapiDocument = new string('o', 1024 * 1024 + 1) };

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["description", "name", "openapi_document", "slug", "timeout_ms", "upstream_url"], fields.Order().ToArray());

        using var rest = fixture.Rest(provider);
        using var response = await rest.PostAsJsonAsync("v1/apis", new { slug = "admin", name = "", upstreamUrl = "http://10.0.0.1", timeoutMs = 99 }, Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["name", "slug", "timeoutMs", "upstreamUrl"], Expect.ProblemFields(problem).Order().ToArray());
        Assert.Contains("reserved", problem.GetProperty("errors").GetProperty("slug")[0].GetString());
    }
}

/// <summary>The SSRF guard switched off, as the local fleet and the subscriptions tests run it.</summary>
public sealed class PrivateUpstreamsFixture : CatalogFixture
{
    protected override bool AllowPrivateUpstreams => true;
}

public sealed class PrivateUpstreamTests(PrivateUpstreamsFixture fixture) : IClassFixture<PrivateUpstreamsFixture>
{
    [Theory]
    [InlineData("http://localhost:5900")]
    [InlineData("http://127.0.0.1:5900/")]
    [InlineData("http://10.0.0.7")]
    [InlineData("http://[::1]:5900")]
    public async Task CreateApi_PrivateUpstreamsAllowed_Accepted(string upstream)
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Local", UpstreamUrl = upstream };

        var api = (await fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, TestContext.Current.CancellationToken)).Api;

        Assert.Equal(upstream, api.UpstreamUrl);
    }

    [Fact]
    public async Task CreateApi_PrivateUpstreamsAllowed_SchemeAndUserInfoStillChecked()
    {
        var provider = await fixture.SignUpProviderAsync();
        var request = new CreateApiRequest { Slug = CatalogFixture.UniqueSlug(), Name = "Local", UpstreamUrl = "ftp://user@localhost" };

        var fields = await Expect.FieldErrorsAsync(() => fixture.Client.CreateApiAsync(request, provider.Headers, CatalogFixture.Deadline, TestContext.Current.CancellationToken).ResponseAsync);

        Assert.Equal(["upstream_url"], fields);
    }
}
