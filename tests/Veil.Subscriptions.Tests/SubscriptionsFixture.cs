using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.Subscriptions.Grpc;
using Veil.Subscriptions.V1;
using Veil.Testing;

namespace Veil.Subscriptions.Tests;

/// <summary>A signed-up (or bootstrapped) account and its access token.</summary>
public sealed record TestAccount(string Id, string Token)
{
    /// <summary>gRPC metadata carrying the token.</summary>
    public Metadata Headers => new() { { "Authorization", "Bearer " + Token } };
}

/// <summary>
/// The real chain subscriptions runs in: identity (tokens, a bootstrapped administrator), catalog
/// (APIs; private upstreams allowed as in the local fleet) and subscriptions itself, which finds
/// catalog through service discovery configuration. Shared by the tests of one class; tests stay
/// independent by signing up their own accounts and creating their own APIs.
/// </summary>
public sealed class SubscriptionsFixture : IAsyncLifetime
{
    private const string AdminEmail = "admin@subscriptions-tests.example";
    private const string AdminPassword = "subscriptions-tests-admin-password";
    private const string BillingManagerEmail = "money@subscriptions-tests.example";

    private readonly List<GrpcChannel> _channels = [];
    private IdentityService.IdentityServiceClient _identity = null!;

    public ServiceHost<IdentityGrpcService> Identity { get; } = new ServiceHost<IdentityGrpcService>()
        .With("Identity:Admin:Email", AdminEmail)
        .With("Identity:Admin:Password", AdminPassword)
        .With("Identity:BillingManagers:0:Email", BillingManagerEmail)
        .With("Identity:BillingManagers:0:Password", AdminPassword);

    public ServiceHost<CatalogGrpcService> Catalog { get; private set; } = null!;

    public ServiceHost<SubscriptionsGrpcService> Subscriptions { get; private set; } = null!;

    public SubscriptionService.SubscriptionServiceClient Client { get; private set; } = null!;

    public CatalogService.CatalogServiceClient CatalogClient { get; private set; } = null!;

    public TestAccount Admin { get; private set; } = null!;

    public TestAccount BillingManager { get; private set; } = null!;

    public static DateTime Deadline => DateTime.UtcNow.AddSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        Identity.Start();
        Catalog = new ServiceHost<CatalogGrpcService>();
        Subscriptions = NewSubscriptionsHost(Catalog.GrpcUrl);
        // Catalog pushes API lifecycle changes to subscriptions (SetApiLifecycle).
        Catalog.With("Veil:Auth:Authority", Identity.HttpUrl.ToString())
            .With("Catalog:AllowPrivateUpstreams", "true")
            .With("services:subscriptions:grpc:0", Subscriptions.GrpcUrl.ToString())
            .Start();
        Subscriptions.Start();
        Client = new SubscriptionService.SubscriptionServiceClient(Channel(Subscriptions.GrpcUrl));
        CatalogClient = new CatalogService.CatalogServiceClient(Channel(Catalog.GrpcUrl));

        _identity = new IdentityService.IdentityServiceClient(Channel(Identity.GrpcUrl));
        var admin = await _identity.SignInAsync(new SignInRequest { Email = AdminEmail, Password = AdminPassword }, deadline: Deadline, cancellationToken: Ct);
        Admin = new TestAccount(admin.Account.Id, admin.Session.AccessToken);
        var manager = await _identity.SignInAsync(new SignInRequest { Email = BillingManagerEmail, Password = AdminPassword }, deadline: Deadline, cancellationToken: Ct);
        BillingManager = new TestAccount(manager.Account.Id, manager.Session.AccessToken);
    }

    /// <summary>A subscriptions host trusting this identity and finding catalog at <paramref name="catalogGrpcUrl"/>.</summary>
    public ServiceHost<SubscriptionsGrpcService> NewSubscriptionsHost(Uri catalogGrpcUrl, string? dataDirectory = null) =>
        new ServiceHost<SubscriptionsGrpcService>(dataDirectory)
            .With("Veil:Auth:Authority", Identity.HttpUrl.ToString())
            .With("services:catalog:grpc:0", catalogGrpcUrl.ToString());

    public GrpcChannel Channel(Uri url)
    {
        var channel = GrpcChannel.ForAddress(url);
        lock (_channels)
        {
            _channels.Add(channel);
        }
        return channel;
    }

    public async Task<TestAccount> SignUpAsync(Role role)
    {
        var response = await _identity.SignUpAsync(new SignUpRequest
        {
            Email = $"{role.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}@subscriptions-tests.example",
            Password = "a-long-enough-password",
            Role = role,
        }, deadline: Deadline, cancellationToken: Ct);
        return new TestAccount(response.Account.Id, response.Session.AccessToken);
    }

    public Task<TestAccount> SignUpProviderAsync() => SignUpAsync(Role.Provider);

    public Task<TestAccount> SignUpConsumerAsync() => SignUpAsync(Role.Consumer);

    /// <summary>Publishes an API in the real catalog.</summary>
    public async Task<Api> CreateApiAsync(TestAccount provider)
    {
        var response = await CatalogClient.CreateApiAsync(new CreateApiRequest
        {
            Slug = $"api-{Guid.NewGuid():N}"[..20],
            Name = "Weather",
            UpstreamUrl = "http://127.0.0.1:5900",
        }, provider.Headers, Deadline, Ct);
        return response.Api;
    }

    /// <summary>Creates a valid plan on <paramref name="api"/> (id or slug).</summary>
    public async Task<Plan> CreatePlanAsync(TestAccount provider, string api, string? name = null)
    {
        var response = await Client.CreatePlanAsync(new CreatePlanRequest
        {
            ApiId = api,
            Name = name ?? "Free " + Guid.NewGuid().ToString("N")[..6],
            RequestsPerSecond = 10,
        }, provider.Headers, Deadline, Ct);
        return response.Plan;
    }

    /// <summary>A provider with an API and a plan on it.</summary>
    public async Task<(TestAccount Provider, Api Api, Plan Plan)> ProviderWithPlanAsync()
    {
        var provider = await SignUpProviderAsync();
        var api = await CreateApiAsync(provider);
        var plan = await CreatePlanAsync(provider, api.Id);
        return (provider, api, plan);
    }

    public async Task<Subscription> SubscribeAsync(TestAccount consumer, Plan plan) =>
        (await Client.SubscribeAsync(new SubscribeRequest { PlanId = plan.Id }, consumer.Headers, Deadline, Ct)).Subscription;

    /// <summary>A REST client for subscriptions' HTTP port, with the token when given.</summary>
    public HttpClient Rest(TestAccount? account = null)
    {
        var client = Subscriptions.CreateRestClient();
        if (account is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.Token);
        }
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        if (Subscriptions is not null)
        {
            await Subscriptions.DisposeAsync();
        }
        if (Catalog is not null)
        {
            await Catalog.DisposeAsync();
        }
        await Identity.DisposeAsync();
    }
}
