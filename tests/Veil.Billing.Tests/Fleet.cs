using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Veil.Catalog.Grpc;
using Veil.Catalog.V1;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Data;
using Veil.Testing;

[assembly: AssemblyFixture(typeof(Veil.Billing.Tests.Fleet))]

namespace Veil.Billing.Tests;

/// <summary>An account and its access token.</summary>
public sealed record Account(string Id, string Token)
{
    /// <summary>gRPC metadata carrying the token.</summary>
    public Metadata Headers => new() { { "Authorization", "Bearer " + Token } };
}

/// <summary>
/// The long-lived part of billing's neighbourhood, shared by the whole assembly: identity (with an
/// administrator and a billing manager bootstrapped from configuration) and catalog. Tests stay
/// independent by signing up their own accounts and creating their own APIs; subscriptions, usage
/// and billing are per test (<see cref="World"/>): billing invoices every subscription it is shown,
/// and each test's clocks are its own.
/// </summary>
public sealed class Fleet : IAsyncLifetime
{
    public const string Password = "billing-tests-password";
    private const string AdminEmail = "admin@billing-tests.example";
    private const string BillingManagerEmail = "money@billing-tests.example";

    private readonly List<GrpcChannel> _channels = [];

    public ServiceHost<IdentityGrpcService> Identity { get; } = new ServiceHost<IdentityGrpcService>()
        .With("Identity:Admin:Email", AdminEmail)
        .With("Identity:Admin:Password", Password)
        .With("Identity:BillingManagers:0:Email", BillingManagerEmail)
        .With("Identity:BillingManagers:0:Password", Password);

    public ServiceHost<CatalogGrpcService> Catalog { get; private set; } = null!;

    public IdentityService.IdentityServiceClient IdentityClient { get; private set; } = null!;

    public CatalogService.CatalogServiceClient CatalogClient { get; private set; } = null!;

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A deadline for one call.</summary>
    public static DateTime Deadline => DateTime.UtcNow.AddSeconds(30);

    public ValueTask InitializeAsync()
    {
        Identity.Start();
        Catalog = new ServiceHost<CatalogGrpcService>()
            .With("Veil:Auth:Authority", Identity.HttpUrl.ToString())
            .With("Catalog:AllowPrivateUpstreams", "true")
            .Start();
        IdentityClient = new IdentityService.IdentityServiceClient(Channel(Identity.GrpcUrl));
        CatalogClient = new CatalogService.CatalogServiceClient(Channel(Catalog.GrpcUrl));
        return ValueTask.CompletedTask;
    }

    public GrpcChannel Channel(Uri url)
    {
        var channel = GrpcChannel.ForAddress(url);
        lock (_channels)
        {
            _channels.Add(channel);
        }
        return channel;
    }

    public async Task<Account> SignUpAsync(Role role)
    {
        var response = await IdentityClient.SignUpAsync(new SignUpRequest
        {
            Email = $"{role.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}@billing-tests.example",
            Password = Password,
            Role = role,
        }, deadline: Deadline, cancellationToken: Ct);
        return new Account(response.Account.Id, response.Session.AccessToken);
    }

    public Task<Account> AdminAsync() => SignInAsync(AdminEmail);

    public Task<Account> BillingManagerAsync() => SignInAsync(BillingManagerEmail);

    /// <summary>Publishes an API owned by <paramref name="provider"/> in the real catalog.</summary>
    public async Task<Api> CreateApiAsync(Account provider) =>
        (await CatalogClient.CreateApiAsync(new CreateApiRequest
        {
            Slug = $"api-{Guid.NewGuid():N}"[..20],
            Name = "Weather",
            UpstreamUrl = "http://127.0.0.1:5900",
        }, provider.Headers, Deadline, Ct)).Api;

    private async Task<Account> SignInAsync(string email)
    {
        var response = await IdentityClient.SignInAsync(new SignInRequest { Email = email, Password = Password }, deadline: Deadline, cancellationToken: Ct);
        return new Account(response.Account.Id, response.Session.AccessToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }
        if (Catalog is not null)
        {
            await Catalog.DisposeAsync();
        }
        await Identity.DisposeAsync();
    }
}

/// <summary>
/// A service host whose clock the test owns (when given), whose SQLite file tests may read, and
/// whose Veil log entries (Debug and up) tests may inspect.
/// </summary>
public sealed class ClockedHost<TEntryPoint>(TimeProvider? time, string? dataDirectory = null) : ServiceHost<TEntryPoint>(dataDirectory)
    where TEntryPoint : class
{
    /// <summary>What the service logged under <c>Veil.*</c> categories.</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>Runs SQL against the service's own database file, as the service left it.</summary>
    public Task<List<object?[]>> QueryAsync(string sql) => Services.GetRequiredService<SqliteDatabase>().QueryAsync(sql);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs).AddFilter<CapturedLogs>("Veil", LogLevel.Debug));
        if (time is not null)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(time));
        }
    }
}

/// <summary>A REST client with a bearer token.</summary>
public static class RestClients
{
    public static HttpClient WithToken(this HttpClient client, Account? account)
    {
        if (account is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", account.Token);
        }
        return client;
    }
}
