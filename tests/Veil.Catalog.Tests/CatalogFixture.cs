using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>A signed-up (or bootstrapped) account and its access token.</summary>
public sealed record TestAccount(string Id, string Token)
{
    /// <summary>gRPC metadata carrying the token.</summary>
    public Metadata Headers => new() { { "Authorization", "Bearer " + Token } };
}

/// <summary>
/// A real identity (tokens, JWKS; an administrator bootstrapped from configuration) and a real
/// catalog validating its tokens, shared by the tests of one class. Tests stay independent by
/// creating their own accounts and slugs.
/// </summary>
public class CatalogFixture : IAsyncLifetime
{
    private const string AdminEmail = "admin@catalog-tests.example";
    private const string AdminPassword = "catalog-tests-admin-password";

    private GrpcChannel? _identityChannel;
    private GrpcChannel? _catalogChannel;

    public ServiceHost<IdentityGrpcService> Identity { get; } = new ServiceHost<IdentityGrpcService>()
        .With("Identity:Admin:Email", AdminEmail)
        .With("Identity:Admin:Password", AdminPassword);

    public ServiceHost<CatalogGrpcService> Catalog { get; private set; } = null!;

    public CatalogService.CatalogServiceClient Client { get; private set; } = null!;

    public TestAccount Admin { get; private set; } = null!;

    /// <summary>The SSRF guard's setting for this fixture's catalog.</summary>
    protected virtual bool AllowPrivateUpstreams => false;

    public static DateTime Deadline => DateTime.UtcNow.AddSeconds(15);

    public async ValueTask InitializeAsync()
    {
        Identity.Start();
        _identityChannel = Identity.CreateGrpcChannel();
        Catalog = NewCatalogHost().Start();
        _catalogChannel = Catalog.CreateGrpcChannel();
        Client = new CatalogService.CatalogServiceClient(_catalogChannel);

        var identity = new IdentityService.IdentityServiceClient(_identityChannel);
        var admin = await identity.SignInAsync(new SignInRequest { Email = AdminEmail, Password = AdminPassword },
            deadline: Deadline, cancellationToken: TestContext.Current.CancellationToken);
        Admin = new TestAccount(admin.Account.Id, admin.Session.AccessToken);
    }

    /// <summary>A catalog host that trusts this fixture's identity; pass a data folder to model a restart.</summary>
    public ServiceHost<CatalogGrpcService> NewCatalogHost(string? dataDirectory = null, bool? allowPrivateUpstreams = null) =>
        new ServiceHost<CatalogGrpcService>(dataDirectory)
            .With("Veil:Auth:Authority", Identity.HttpUrl.ToString())
            .With("Catalog:AllowPrivateUpstreams", (allowPrivateUpstreams ?? AllowPrivateUpstreams) ? "true" : "false");

    /// <summary>Signs up a fresh account with <paramref name="role"/>.</summary>
    public async Task<TestAccount> SignUpAsync(Role role)
    {
        var identity = new IdentityService.IdentityServiceClient(_identityChannel!);
        var response = await identity.SignUpAsync(new SignUpRequest
        {
            Email = $"{role.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}@catalog-tests.example",
            Password = "a-long-enough-password",
            Role = role,
        }, deadline: Deadline, cancellationToken: TestContext.Current.CancellationToken);
        return new TestAccount(response.Account.Id, response.Session.AccessToken);
    }

    public Task<TestAccount> SignUpProviderAsync() => SignUpAsync(Role.Provider);

    public Task<TestAccount> SignUpConsumerAsync() => SignUpAsync(Role.Consumer);

    /// <summary>A REST client for the catalog's HTTP port, with the token when given.</summary>
    public HttpClient Rest(TestAccount? account = null)
    {
        var client = Catalog.CreateRestClient();
        if (account is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.Token);
        }
        return client;
    }

    /// <summary>Creates an API with valid defaults and a unique slug.</summary>
    public async Task<Api> CreateApiAsync(TestAccount owner, string? slug = null, string? name = null, string? description = null)
    {
        var response = await Client.CreateApiAsync(new CreateApiRequest
        {
            Slug = slug ?? UniqueSlug(),
            Name = name ?? "Weather",
            Description = description ?? "Forecasts.",
            UpstreamUrl = "https://weather.example.com/v1",
            TimeoutMs = 5000,
            OpenapiDocument = """{"openapi":"3.1.0"}""",
        }, owner.Headers, Deadline, TestContext.Current.CancellationToken);
        return response.Api;
    }

    public static string UniqueSlug(string prefix = "api") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 1 + 16, 63)];

    public async ValueTask DisposeAsync()
    {
        _catalogChannel?.Dispose();
        _identityChannel?.Dispose();
        if (Catalog is not null)
        {
            await Catalog.DisposeAsync();
        }
        await Identity.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The gateway config stream as an edge opens it.</summary>
public static class GatewayWatch
{
    /// <summary>
    /// Opens WatchGatewayConfig as <paramref name="edgeId"/>: the first report names the edge (and
    /// serves nothing yet); the snapshots are read from the result.
    /// </summary>
    public static AsyncServerStreamingCall<GatewayConfig> WatchAs(this CatalogService.CatalogServiceClient client, string edgeId, CancellationToken cancellationToken)
    {
        var call = client.WatchGatewayConfig(cancellationToken: cancellationToken);
        // Buffered by the call; a failure surfaces on the read side, which every caller awaits.
        _ = call.RequestStream.WriteAsync(new WatchGatewayConfigRequest { EdgeId = edgeId, ServedRevision = -1, Full = true }, cancellationToken);
        return new AsyncServerStreamingCall<GatewayConfig>(call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }
}
