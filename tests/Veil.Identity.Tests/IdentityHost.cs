using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Veil.Identity.Grpc;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Data;
using Veil.Testing;

namespace Veil.Identity.Tests;

/// <summary>Identity on real Kestrel and SQLite, optionally on a clock the test moves.</summary>
public sealed class IdentityHost(string? dataDirectory = null, TimeProvider? time = null) : ServiceHost<IdentityGrpcService>(dataDirectory)
{
    public TimeProvider? Time { get; } = time;

    public IdentityService.IdentityServiceClient CreateClient(GrpcChannel channel) => new(channel);

    /// <summary>Rows of a SQL query against identity's own database file, as the service left them.</summary>
    public Task<List<object?[]>> QueryAsync(string sql, params (string Name, object Value)[] parameters) =>
        Services.GetRequiredService<SqliteDatabase>().QueryAsync(sql, parameters);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (Time is not null)
        {
            builder.ConfigureTestServices(services => services.AddSingleton(Time));
        }
    }
}

/// <summary>One identity host shared by the tests of a class; every test uses its own accounts.</summary>
public sealed class IdentityFixture : IAsyncLifetime
{
    public IdentityHost Host { get; } = new();

    public GrpcChannel Channel { get; private set; } = null!;

    public IdentityService.IdentityServiceClient Client { get; private set; } = null!;

    public HttpClient Rest { get; private set; } = null!;

    public ValueTask InitializeAsync()
    {
        Channel = Host.CreateGrpcChannel();
        Client = new IdentityService.IdentityServiceClient(Channel);
        Rest = Host.CreateRestClient();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        Rest.Dispose();
        Channel.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>Small helpers for calls with deadlines, cancellation and bearer tokens.</summary>
public static class Api
{
    public const string Password = "correct horse battery staple";

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>gRPC call options: a 10 s deadline, the test's cancellation, and a bearer token when given.</summary>
    public static CallOptions Call(string? accessToken = null)
    {
        var headers = new Metadata();
        if (accessToken is not null)
        {
            headers.Add("Authorization", "Bearer " + accessToken);
        }
        return new CallOptions(headers, DateTime.UtcNow.AddSeconds(10), Ct);
    }

    public static string NewEmail() => $"user-{Guid.NewGuid():N}@example.test";

    public static Task<SignInResponse> SignInAsync(this IdentityService.IdentityServiceClient client, string email, string password = Password) =>
        client.SignInAsync(new SignInRequest { Email = email, Password = password }, Call()).ResponseAsync;

    public static Task<SignUpResponse> SignUpAsync(this IdentityService.IdentityServiceClient client, Role role = Role.Consumer, string? email = null) =>
        client.SignUpAsync(new SignUpRequest { Email = email ?? NewEmail(), Password = Password, Role = role }, Call()).ResponseAsync;

    public static Task<CreateApiKeyResponse> CreateKeyAsync(this IdentityService.IdentityServiceClient client, string accessToken, string name = "test key", int expiresInDays = 0) =>
        client.CreateApiKeyAsync(new CreateApiKeyRequest { Name = name, ExpiresInDays = expiresInDays }, Call(accessToken)).ResponseAsync;

    public static Task<ValidateApiKeyResponse> ValidateAsync(this IdentityService.IdentityServiceClient client, string key) =>
        client.ValidateApiKeyAsync(new ValidateApiKeyRequest { Key = key }, Call()).ResponseAsync;

    /// <summary>POSTs <paramref name="body"/> as JSON, optionally with a bearer token.</summary>
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient rest, string path, object body, string? accessToken = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (accessToken is not null)
        {
            request.Headers.Authorization = new("Bearer", accessToken);
        }
        return rest.SendAsync(request, Ct);
    }

    public static Task<HttpResponseMessage> GetAsync(this HttpClient rest, string path, string? accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (accessToken is not null)
        {
            request.Headers.Authorization = new("Bearer", accessToken);
        }
        return rest.SendAsync(request, Ct);
    }

    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct)) ?? throw new InvalidOperationException("Empty body.");
}
