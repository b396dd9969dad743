using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Veil.Catalog.Grpc;
using Veil.Cli;
using Veil.Edge;
using Veil.Identity.Grpc;
using Veil.Subscriptions.Grpc;
using Veil.Testing;

namespace Veil.Cli.Tests;

/// <summary>
/// What the CLI talks to, started once per test class: real identity, catalog and subscriptions
/// hosts (each with its own SQLite folder) behind a real edge, all on loopback. In-process hosts
/// start in a few seconds where the AppHost fleet takes about a minute, and the CLI only ever
/// reaches the edge's REST API, so this is the same surface.
/// </summary>
public sealed class CliFleet : IAsyncLifetime
{
    public ServiceHost<IdentityGrpcService> Identity { get; } = new();
    public ServiceHost<CatalogGrpcService> Catalog { get; } = new();
    public ServiceHost<SubscriptionsGrpcService> Subscriptions { get; } = new();
    public ServiceHost<EdgeOptions> Edge { get; } = new();

    /// <summary>The edge's base URL, as a user passes it to --server.</summary>
    public string Server => Edge.HttpUrl.ToString().TrimEnd('/');

    public ValueTask InitializeAsync()
    {
        var authority = Identity.Start().HttpUrl.ToString().TrimEnd('/');
        Catalog.With("Veil:Auth:Authority", authority)
            .With("services:identity:http:0", authority)
            .With("Catalog:AllowPrivateUpstreams", "true")
            .Start();
        Subscriptions.With("Veil:Auth:Authority", authority)
            .With("services:identity:http:0", authority)
            .With("services:catalog:grpc:0", Catalog.GrpcUrl.ToString())
            .With("services:catalog:http:0", Catalog.HttpUrl.ToString())
            .Start();
        Edge.With("services:identity:http:0", Identity.HttpUrl.ToString())
            .With("services:identity:grpc:0", Identity.GrpcUrl.ToString())
            .With("services:catalog:http:0", Catalog.HttpUrl.ToString())
            .With("services:catalog:grpc:0", Catalog.GrpcUrl.ToString())
            .With("services:subscriptions:http:0", Subscriptions.HttpUrl.ToString())
            .With("services:subscriptions:grpc:0", Subscriptions.GrpcUrl.ToString())
            .With("Edge:AllowPrivateUpstreams", "true")
            // The CLI's calls are management calls; rate limiting has its own tests.
            .With("Edge:RateLimiting:Enabled", "false")
            .Start();
        return ValueTask.CompletedTask;
    }

    /// <summary>A new provider account (signed up through the edge); the CLI logs in as it.</summary>
    public async Task<(string Email, string Password)> NewProviderAsync()
    {
        var email = $"provider-{Guid.NewGuid():N}@example.com";
        const string password = "correct-horse-battery-staple";
        using var http = Edge.CreateRestClient();
        using var response = await http.PostAsJsonAsync("v1/auth/signup", new { email, password, role = "ROLE_PROVIDER" }, TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return (email, password);
    }

    /// <summary>GET through the edge with a bearer token, as JSON.</summary>
    public async Task<JsonObject> GetAsync(string path, string token)
    {
        using var http = Edge.CreateRestClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"GET {path} → {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        await Edge.DisposeAsync();
        await Subscriptions.DisposeAsync();
        await Catalog.DisposeAsync();
        await Identity.DisposeAsync();
    }
}

/// <summary>One user's machine: a private HOME and XDG_CONFIG_HOME, and VEIL_SERVER pointing at the fleet.</summary>
public sealed class CliUser : IDisposable
{
    public CliUser(string server)
    {
        Server = server;
        Home = Directory.CreateTempSubdirectory("veil-cli-home-").FullName;
        Environment["HOME"] = Home;
        Environment["XDG_CONFIG_HOME"] = Path.Combine(Home, "config");
        Environment["VEIL_SERVER"] = server;
    }

    public string Server { get; }

    public string Home { get; }

    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Where <c>veil login</c> keeps the session for this user.</summary>
    public string CredentialsPath => Path.Combine(Home, "config", "veil", "credentials.json");

    /// <summary>The clock the CLI reads (the real one unless a test moves it).</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>Runs <c>veil</c> in-process with this user's environment; <paramref name="input"/> is standard input.</summary>
    public async Task<CliRun> RunWithInputAsync(string input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = error,
            In = new StringReader(input),
            Environment = name => Environment.GetValueOrDefault(name),
            Time = Time,
        };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        var code = await VeilCli.RunAsync(args, context, cts.Token);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    public Task<CliRun> RunAsync(params string[] args) => RunWithInputAsync("", args);

    /// <summary>Signs in as <paramref name="account"/> with --password-stdin; asserts it worked.</summary>
    public async Task LoginAsync((string Email, string Password) account)
    {
        var run = await RunWithInputAsync(account.Password + "\n", "login", "--email", account.Email, "--password-stdin");
        run.AssertOk();
    }

    /// <summary>The stored access token (after login).</summary>
    public string AccessToken => JsonNode.Parse(File.ReadAllText(CredentialsPath))!["accessToken"]!.GetValue<string>();

    /// <summary>Writes <paramref name="yaml"/> to a file in this user's home and returns its path.</summary>
    public string WriteFile(string name, string yaml)
    {
        var path = Path.Combine(Home, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
            // The OS cleans its temp folder.
        }
    }
}

/// <summary>One invocation's exit code and what it printed.</summary>
public sealed record CliRun(int ExitCode, string Out, string Error)
{
    public void AssertOk() => Assert.True(ExitCode == 0, $"exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}");

    public JsonNode Json()
    {
        AssertOk();
        return JsonNode.Parse(Out)!;
    }
}
