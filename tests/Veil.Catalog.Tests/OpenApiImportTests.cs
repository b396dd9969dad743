using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Google.Rpc;
using Grpc.Core;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>The catalog of these tests names its edge https://gateway.example.com (Catalog:PublicBaseUrl).</summary>
public sealed class OpenApiFixture : CatalogFixture
{
    public const string PublicBaseUrl = "https://gateway.example.com";

    protected override ServiceHost<CatalogGrpcService> Configure(ServiceHost<CatalogGrpcService> host) =>
        host.With("Catalog:PublicBaseUrl", PublicBaseUrl);
}

/// <summary>POST /v1/apis:import and GET /v1/apis/{api_id}/openapi (docs/catalog.md "Publishing from OpenAPI").</summary>
public sealed class OpenApiImportTests(OpenApiFixture fixture) : IClassFixture<OpenApiFixture>
{
    private const string UpstreamHost = "pets-upstream.example.net";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CatalogService.CatalogServiceClient Client => fixture.Client;

    private static string Json30(string title = "Pet Store", string server = $"https://{UpstreamHost}/v1") => $$"""
        {
          "openapi": "3.0.3",
          "info": { "title": "{{title}}", "description": "Pets for sale.", "version": "1.0.0" },
          "servers": [ { "url": "{{server}}" } ],
          "paths": {
            "/pets": {
              "get": { "operationId": "listPets", "responses": { "200": { "description": "The pets." } } }
            }
          }
        }
        """;

    private const string Yaml31 = """
        openapi: 3.1.0
        info:
          title: Weather Forecasts
          description: Forecasts by city.
          version: '2.1'
        servers:
          - url: https://{region}.weather-upstream.example.org:{port}/api
            variables:
              region:
                default: eu
                enum: [eu, us]
              port:
                default: '8443'
        paths:
          /forecast:
            get:
              parameters:
                - name: city
                  in: query
                  schema: { type: [string, 'null'] }
              responses:
                '200':
                  description: A forecast.
        """;

    [Fact]
    public async Task ImportApi_Json30_CreatesApiFromTitleDescriptionAndFirstServer()
    {
        var owner = await fixture.SignUpProviderAsync();
        var slug = CatalogFixture.UniqueSlug("pets");
        var document = Json30();

        var api = (await Client.ImportApiAsync(new ImportApiRequest { Document = document, Slug = slug }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(slug, api.Slug);
        Assert.Equal("Pet Store", api.Name);
        Assert.Equal("Pets for sale.", api.Description);
        Assert.Equal($"https://{UpstreamHost}/v1", api.UpstreamUrl);
        Assert.Equal(document, api.OpenapiDocument);
        Assert.Equal(1, api.CurrentVersion);
        var stored = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(document, stored.OpenapiDocument);
    }

    [Fact]
    public async Task ImportApi_Yaml31OverRest_VariablesFilledAndSlugFromTitle()
    {
        var owner = await fixture.SignUpProviderAsync();
        var title = "Weather Forecasts " + Guid.NewGuid().ToString("N")[..8];
        var document = Yaml31.Replace("title: Weather Forecasts", "title: " + title, StringComparison.Ordinal);

        using var rest = fixture.Rest(owner);
        using var response = await rest.PostAsJsonAsync("v1/apis:import", new { document }, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.True(response.IsSuccessStatusCode, body);
        var api = JsonDocument.Parse(body).RootElement.GetProperty("api");
        Assert.Equal(title.ToLowerInvariant().Replace(' ', '-'), api.GetProperty("slug").GetString());
        Assert.Equal(title, api.GetProperty("name").GetString());
        Assert.Equal("https://eu.weather-upstream.example.org:8443/api", api.GetProperty("upstreamUrl").GetString());
        Assert.Equal(document, api.GetProperty("openapiDocument").GetString());
    }

    [Fact]
    public async Task ImportApi_WithApiId_UpdatesAsNewVersion()
    {
        var owner = await fixture.SignUpProviderAsync();
        var created = (await Client.ImportApiAsync(new ImportApiRequest { Document = Json30(), Slug = CatalogFixture.UniqueSlug("pets") },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        var changed = Json30(title: "Pet Store Two", server: "https://pets-v2.example.net/v2");

        var updated = (await Client.ImportApiAsync(new ImportApiRequest { Document = changed, ApiId = created.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        Assert.Equal(created.Id, updated.Id);
        Assert.Equal(created.Slug, updated.Slug);
        Assert.Equal(2, updated.CurrentVersion);
        Assert.Equal("Pet Store Two", updated.Name);
        Assert.Equal("https://pets-v2.example.net/v2", updated.UpstreamUrl);
        Assert.Equal(changed, updated.OpenapiDocument);
        var first = (await Client.GetApiVersionAsync(new GetApiVersionRequest { ApiId = created.Id, Version = 1 }, owner.Headers, CatalogFixture.Deadline, Ct)).Version;
        Assert.Equal("Pet Store", first.Api.Name);

        // Someone else's API is not found, and a slug never changes.
        var other = await fixture.SignUpProviderAsync();
        await Expect.StatusAsync(StatusCode.NotFound, () => Client.ImportApiAsync(
            new ImportApiRequest { Document = changed, ApiId = created.Id }, other.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        Assert.Equal(["slug"], await Expect.FieldErrorsAsync(() => Client.ImportApiAsync(
            new ImportApiRequest { Document = changed, ApiId = created.Id, Slug = "another-slug" }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync));
    }

    [Fact]
    public async Task ImportApi_InvalidDocument_FieldErrorsWithPointers()
    {
        var owner = await fixture.SignUpProviderAsync();
        const string invalid = """
            {
              "openapi": "3.0.3",
              "info": { "title": "Broken" },
              "servers": [ { "url": "https://broken.example.com" } ],
              "paths": {},
              "components": { "schemas": { "Pet": { "type": "strin" } } }
            }
            """;

        var descriptions = await ViolationsAsync(owner, invalid);

        Assert.Contains(descriptions, d => d.StartsWith("#/info/version: ", StringComparison.Ordinal));
        Assert.Contains(descriptions, d => d.StartsWith("#/components/schemas/Pet/type: ", StringComparison.Ordinal));

        // Over REST: a problem whose errors name the document field.
        using var rest = fixture.Rest(owner);
        using var response = await rest.PostAsJsonAsync("v1/apis:import", new { document = invalid, slug = CatalogFixture.UniqueSlug() }, Ct);
        var problem = await Expect.ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["document"], Expect.ProblemFields(problem));
        Assert.Contains("#/info/version: ", problem.GetProperty("errors").GetProperty("document").ToString(), StringComparison.Ordinal);

        // Not OpenAPI at all (a YAML scalar), and not JSON (a syntax error): still a document error.
        Assert.NotEmpty(await ViolationsAsync(owner, "just some text"));
        Assert.NotEmpty(await ViolationsAsync(owner, "{\"openapi\": \"3.0.3\", "));
    }

    [Fact]
    public async Task ImportApi_Swagger20_RefusedAsUnsupported()
    {
        var owner = await fixture.SignUpProviderAsync();
        const string swagger = """
            swagger: '2.0'
            info: { title: Old, version: '1' }
            host: old.example.com
            paths: {}
            """;

        var descriptions = await ViolationsAsync(owner, swagger);

        Assert.Equal(["#/swagger: OpenAPI 2.0 (Swagger) documents are not supported: convert it to OpenAPI 3.0 or 3.1 first."], descriptions);
    }

    [Fact]
    public async Task ImportApi_NoServers_RefusedNamingServers()
    {
        var owner = await fixture.SignUpProviderAsync();
        const string noServers = """{"openapi":"3.1.0","info":{"title":"Nowhere","version":"1"},"paths":{}}""";

        var descriptions = await ViolationsAsync(owner, noServers);

        Assert.Single(descriptions);
        Assert.StartsWith("#/servers: Required", descriptions[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/v1")]
    [InlineData("http://localhost/v1")]
    [InlineData("https://10.1.2.3/v1")]
    [InlineData("/v1")]
    public async Task ImportApi_PrivateOrRelativeServer_RefusedLikeUpstreamUrl(string server)
    {
        var owner = await fixture.SignUpProviderAsync();

        var descriptions = await ViolationsAsync(owner, Json30(server: server));

        Assert.NotEmpty(descriptions);
        Assert.All(descriptions, d => Assert.StartsWith("#/servers/0/url: ", d, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ImportApi_ExternalRef_NeverFetched()
    {
        var owner = await fixture.SignUpProviderAsync();
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var document = $$"""
                openapi: 3.1.0
                info: { title: Refs, version: '1' }
                servers: [ { url: 'https://refs.example.com' } ]
                paths:
                  /pets:
                    get:
                      responses:
                        '200':
                          description: A pet.
                          content:
                            application/json:
                              schema: { $ref: 'http://127.0.0.1:{{port}}/pet.yaml#/Pet' }
                """;

            var api = (await Client.ImportApiAsync(new ImportApiRequest { Document = document, Slug = CatalogFixture.UniqueSlug("refs") },
                owner.Headers, CatalogFixture.Deadline, Ct)).Api;
            using var rest = fixture.Rest();
            using var response = await rest.GetAsync($"v1/apis/{api.Id}/openapi", Ct);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(listener.Pending(), "the catalog connected to the host a $ref names");
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task GetApiOpenApi_Consumer_ServersRewrittenAndUpstreamHostNowhere()
    {
        var owner = await fixture.SignUpProviderAsync();
        var consumer = await fixture.SignUpConsumerAsync();
        // The upstream address everywhere a document may carry it: servers at every level, server
        // variables, an extension, a description, a link's server, external docs.
        var document = $$"""
            openapi: 3.0.3
            info:
              title: Leaky Pets
              description: 'Calls go to https://{{UpstreamHost}}/v1 (or {{UpstreamHost}}:8443 for staging).'
              version: '1'
              x-upstream: https://{{UpstreamHost}}/v1
            externalDocs:
              url: https://{{UpstreamHost.ToUpperInvariant()}}/docs
            servers:
              - url: https://{{UpstreamHost}}/v1
                description: production
              - url: https://{env}.pets-upstream.example.net/v1
                variables:
                  env:
                    default: staging
                    enum: [staging, canary]
            paths:
              /pets:
                servers:
                  - url: https://canary.pets-upstream.example.net/v1
                get:
                  servers:
                    - url: http://{{UpstreamHost}}:8080/v1
                  responses:
                    '200':
                      description: The pets.
                      links:
                        self:
                          operationId: listPets
                          server:
                            url: https://{{UpstreamHost}}/v1
            """;
        var api = (await Client.ImportApiAsync(new ImportApiRequest { Document = document, Slug = CatalogFixture.UniqueSlug("leaky") },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        using var rest = fixture.Rest(consumer);
        using var response = await rest.GetAsync($"v1/apis/{api.Slug}/openapi", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);

        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(text).RootElement;
        var servers = json.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("url").GetString()!).ToArray();
        Assert.Equal([$"{OpenApiFixture.PublicBaseUrl}/{api.Slug}"], servers);
        // The writer names the newest patch of the document's minor version.
        Assert.StartsWith("3.0.", json.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.True(json.GetProperty("paths").TryGetProperty("/pets", out _));
        Assert.DoesNotContain("pets-upstream", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("8443", text, StringComparison.Ordinal);
        // The owner still sees the document as imported, upstream included.
        var own = (await Client.GetApiAsync(new GetApiRequest { ApiId = api.Id }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        Assert.Equal(document, own.OpenapiDocument);
    }

    [Fact]
    public async Task GetApiOpenApi_AnonymousYaml_ServesYamlWithPublicServer()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = (await Client.ImportApiAsync(new ImportApiRequest { Document = Yaml31, Slug = CatalogFixture.UniqueSlug("weather") },
            owner.Headers, CatalogFixture.Deadline, Ct)).Api;

        using var rest = fixture.Rest();
        using var response = await rest.GetAsync($"v1/apis/{api.Id}/openapi?format=yaml", Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);

        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal("application/yaml", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("openapi: '3.1.", text, StringComparison.Ordinal);
        Assert.Contains($"{OpenApiFixture.PublicBaseUrl}/{api.Slug}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("weather-upstream", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task GetApiOpenApi_NoDocument_NotFoundSayingSo()
    {
        var owner = await fixture.SignUpProviderAsync();
        var api = (await Client.CreateApiAsync(new CreateApiRequest
        {
            Slug = CatalogFixture.UniqueSlug(), Name = "Bare", UpstreamUrl = "https://bare.example.com",
        }, owner.Headers, CatalogFixture.Deadline, Ct)).Api;
        // A document set through CreateApi is not checked; one that is not OpenAPI 3.x is never served.
        var legacy = await fixture.CreateApiAsync(owner);

        using var rest = fixture.Rest();
        using var none = await rest.GetAsync($"v1/apis/{api.Id}/openapi", Ct);
        var problem = await Expect.ProblemAsync(none, HttpStatusCode.NotFound);
        Assert.Contains("has no OpenAPI document", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var unreadable = await rest.GetAsync($"v1/apis/{legacy.Id}/openapi", Ct);
        problem = await Expect.ProblemAsync(unreadable, HttpStatusCode.NotFound);
        Assert.Contains("not valid OpenAPI 3.0 or 3.1", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var unknown = await rest.GetAsync("v1/apis/no-such-api/openapi", Ct);
        await Expect.ProblemAsync(unknown, HttpStatusCode.NotFound);
    }

    /// <summary>Imports <paramref name="document"/> as a new API; asserts InvalidArgument on <c>document</c> alone and returns its descriptions.</summary>
    private async Task<string[]> ViolationsAsync(TestAccount owner, string document)
    {
        var ex = await Expect.StatusAsync(StatusCode.InvalidArgument, () => Client.ImportApiAsync(
            new ImportApiRequest { Document = document, Slug = CatalogFixture.UniqueSlug() }, owner.Headers, CatalogFixture.Deadline, Ct).ResponseAsync);
        var violations = ex.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations;
        Assert.All(violations, v => Assert.Equal("document", v.Field));
        return violations.Select(v => v.Description).ToArray();
    }
}
