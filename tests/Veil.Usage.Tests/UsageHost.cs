using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Data;
using Veil.Testing;
using Veil.Usage.Grpc;
using Veil.Usage.V1;
using Veil.Usage.Webhooks;

[assembly: AssemblyFixture(typeof(Veil.Usage.Tests.IdentityFixture))]

namespace Veil.Usage.Tests;

/// <summary>
/// The usage service on real Kestrel and SQLite, validating real tokens from the shared identity
/// host, optionally on a clock the test moves. Webhooks may target loopback (the test receiver)
/// and retry quickly.
/// </summary>
public sealed class UsageHost : ServiceHost<UsageGrpcService>
{
    private GrpcChannel? _channel;

    public UsageHost(IdentityFixture identity, string? dataDirectory = null, TimeProvider? time = null) : base(dataDirectory)
    {
        Time = time;
        With("Veil:Auth:Authority", identity.Host.HttpUrl.ToString());
        With("Usage:AllowPrivateWebhooks", "true");
        With("Usage:RollupInterval", "00:00:00.020");
        With("Usage:Webhooks:InitialBackoff", "00:00:00.050");
        With("Usage:Webhooks:MaxBackoff", "00:00:00.400");
        // Identity's gRPC port, for the key-expiry notifier; off unless a test turns it on, so no
        // other test's outbox sees notices for the shared identity's keys.
        With("services:identity:grpc:0", identity.Host.GrpcUrl.ToString());
        With("Usage:KeyExpiryNotices:Enabled", "false");
    }

    public TimeProvider? Time { get; }

    /// <summary>A client on a channel owned (and disposed) by this host.</summary>
    public UsageService.UsageServiceClient Client => new(_channel ??= CreateGrpcChannel());

    /// <summary>The service's retention job, to run it now (its own schedule waits a minute, then an interval).</summary>
    public RetentionWorker Retention => Services.GetRequiredService<RetentionWorker>();

    /// <summary>The key-expiry notifier, to run a pass now (its own schedule waits a minute, then an interval).</summary>
    public KeyExpiryNotifier Notifier => Services.GetRequiredService<KeyExpiryNotifier>();

    /// <summary>Waits until the rollups include every stored event (the roller runs behind ingest).</summary>
    public Task RolledUpAsync() => Eventually.HoldsAsync(async () =>
        (await QueryAsync("SELECT (SELECT COALESCE(MAX(id), 0) FROM events) - last_event_id FROM rollup_watermark"))[0][0] is 0L,
        TimeSpan.FromSeconds(20), "the rollups catch up with the raw events");

    /// <summary>Rows of a SQL query against usage's own database file, as the service left them.</summary>
    public Task<List<object?[]>> QueryAsync(string sql) => Services.GetRequiredService<SqliteDatabase>().QueryAsync(sql);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (Time is not null)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(Time));
        }
    }

    public override async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>One identity host for the whole assembly (with an administrator); every test signs up its own accounts.</summary>
public sealed class IdentityFixture : IAsyncLifetime
{
    public const string AdminEmail = "admin@usage-tests.example";
    public const string BillingManagerEmail = "billing@usage-tests.example";

    public ServiceHost<IdentityGrpcService> Host { get; } = new ServiceHost<IdentityGrpcService>()
        .With("Identity:Admin:Email", AdminEmail)
        .With("Identity:Admin:Password", Api.Password)
        .With("Identity:BillingManagers:0:Email", BillingManagerEmail)
        .With("Identity:BillingManagers:0:Password", Api.Password);

    public IdentityService.IdentityServiceClient Client { get; private set; } = null!;

    private GrpcChannel _channel = null!;

    public ValueTask InitializeAsync()
    {
        _channel = Host.CreateGrpcChannel();
        Client = new IdentityService.IdentityServiceClient(_channel);
        return ValueTask.CompletedTask;
    }

    /// <summary>A new consumer or provider account and its access token.</summary>
    public async Task<Account> SignUpAsync(Role role)
    {
        var response = await Client.SignUpAsync(
            new SignUpRequest { Email = $"user-{Guid.NewGuid():N}@example.test", Password = Api.Password, Role = role }, Api.Call()).ResponseAsync;
        return new Account(response.Account.Id, response.Session.AccessToken);
    }

    /// <summary>The bootstrapped administrator's account and a fresh access token.</summary>
    public Task<Account> AdminAsync() => SignInAsync(AdminEmail);

    /// <summary>The bootstrapped billing manager's account and a fresh access token.</summary>
    public Task<Account> BillingManagerAsync() => SignInAsync(BillingManagerEmail);

    private async Task<Account> SignInAsync(string email)
    {
        var response = await Client.SignInAsync(new SignInRequest { Email = email, Password = Api.Password }, Api.Call()).ResponseAsync;
        return new Account(response.Account.Id, response.Session.AccessToken);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>An account and its access token.</summary>
public sealed record Account(string Id, string Token);

/// <summary>
/// A subscription as the edge would describe it in events: who, which API and key, and the
/// plan terms the edge enforces.
/// </summary>
public sealed record Sub(string Id, string ConsumerId, string ProviderId, string ApiId, string KeyId, string PlanId,
    long Quota, bool Overage, DateTimeOffset Start)
{
    public static Sub New(string consumerId, string providerId, DateTimeOffset start, long quota = 0, bool overage = true, string? apiId = null) =>
        new("sub_" + Guid.NewGuid().ToString("N")[..20], consumerId, providerId, apiId ?? "api_" + Guid.NewGuid().ToString("N")[..20],
            "key_" + Guid.NewGuid().ToString("N")[..20], "plan_" + Guid.NewGuid().ToString("N")[..20], quota, overage, start);

    /// <summary>One call at <paramref name="at"/>, with a fresh UUIDv7 id unless given.</summary>
    public UsageEvent Call(DateTimeOffset at, bool billable = true, string? id = null, int status = 200, long bytesIn = 10, long bytesOut = 100) => new()
    {
        EventId = id ?? Guid.CreateVersion7(at).ToString(),
        OccurredAt = Timestamp.FromDateTimeOffset(at),
        EdgeId = "edge-test",
        ApiId = ApiId,
        ProviderId = ProviderId,
        ConfigVersion = 1,
        KeyId = KeyId,
        ConsumerId = ConsumerId,
        SubscriptionId = Id,
        PlanId = PlanId,
        Method = "GET",
        Route = "/weather/{**rest}",
        StatusCode = status,
        LatencyMs = 12,
        BytesIn = bytesIn,
        BytesOut = bytesOut,
        Billable = billable,
        MonthlyQuota = Quota,
        OverageAllowed = Overage,
        PricePerCallMinor = 2,
        Currency = "USD",
        SubscriptionStart = Timestamp.FromDateTimeOffset(Start),
    };

    /// <summary><paramref name="count"/> calls spread one second apart from <paramref name="from"/>.</summary>
    public List<UsageEvent> Calls(int count, DateTimeOffset from, bool billable = true) =>
        Enumerable.Range(0, count).Select(i => Call(from.AddSeconds(i), billable)).ToList();
}

/// <summary>Calls with deadlines, cancellation and bearer tokens.</summary>
public static class Api
{
    public const string Password = "correct horse battery staple";

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>gRPC call options: a 30 s deadline, the test's cancellation, and a bearer token when given.</summary>
    public static CallOptions Call(string? accessToken = null)
    {
        var headers = new Metadata();
        if (accessToken is not null)
        {
            headers.Add("Authorization", "Bearer " + accessToken);
        }
        return new CallOptions(headers, DateTime.UtcNow.AddSeconds(30), Ct);
    }

    public static Task<IngestEventsResponse> IngestAsync(this UsageService.UsageServiceClient client, IngestEventsRequest request) =>
        client.IngestEventsAsync(request, Call()).ResponseAsync;

    public static async Task<IngestEventsResponse> IngestAsync(this UsageService.UsageServiceClient client, IEnumerable<UsageEvent> events)
    {
        var request = new IngestEventsRequest();
        request.Events.AddRange(events);
        return await client.IngestEventsAsync(request, Call()).ResponseAsync;
    }

    public static Task<QueryUsageResponse> QueryAsync(this UsageService.UsageServiceClient client, string token, QueryUsageRequest request) =>
        client.QueryUsageAsync(request, Call(token)).ResponseAsync;

    public static async Task<QuotaStatus> QuotaAsync(this UsageService.UsageServiceClient client, string token, string subscriptionId) =>
        (await client.GetQuotaStatusAsync(new GetQuotaStatusRequest { SubscriptionId = subscriptionId }, Call(token)).ResponseAsync).Status;

    public static Task<HttpResponseMessage> SendAsync(this HttpClient rest, HttpMethod method, string path, string? token, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return rest.SendAsync(request, Ct);
    }

    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct)) ?? throw new InvalidOperationException("Empty body.");

    public static Timestamp Ts(DateTimeOffset at) => Timestamp.FromDateTimeOffset(at);
}
