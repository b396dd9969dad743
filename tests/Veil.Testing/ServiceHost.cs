using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Veil.Testing;

/// <summary>
/// A real Veil service on real Kestrel: an HTTP/1.1 port (REST, health, metrics) and an HTTP/2
/// port (gRPC), both on loopback ephemeral ports, and its own temporary data folder for SQLite
/// files, deleted on dispose. <typeparamref name="TEntryPoint"/> is any public type of the
/// service's assembly (each service's top-level Program is internal, so several services can
/// be hosted in one test process).
/// </summary>
public class ServiceHost<TEntryPoint> : WebApplicationFactory<TEntryPoint> where TEntryPoint : class
{
    private readonly Dictionary<string, string?> _settings = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<Action<IServiceCollection>> _services = [];
    private readonly bool _ownsDataDirectory;

    /// <summary>Creates a host with a fresh data folder, or an existing one to model a restart.</summary>
    public ServiceHost(string? dataDirectory = null)
    {
        _ownsDataDirectory = dataDirectory is null;
        DataDirectory = dataDirectory ?? Directory.CreateTempSubdirectory("veil-test-").FullName;
        HttpPort = FreePort.Next();
        GrpcPort = FreePort.Next();
        _settings["Veil:DataDirectory"] = DataDirectory;
        _settings["Kestrel:Endpoints:Http:Url"] = HttpUrl.ToString();
        _settings["Kestrel:Endpoints:Http:Protocols"] = "Http1";
        _settings["Kestrel:Endpoints:Grpc:Url"] = GrpcUrl.ToString();
        _settings["Kestrel:Endpoints:Grpc:Protocols"] = "Http2";
        // The edge alone has a management endpoint (its appsettings.json names one on 8081, which
        // every edge in a test process would share): each edge host gets its own free port.
        if (typeof(TEntryPoint).Assembly.GetName().Name == "Veil.Edge")
        {
            ManagementPort = FreePort.Next();
            _settings["Kestrel:Endpoints:Management:Url"] = ManagementUrl.ToString();
            _settings["Kestrel:Endpoints:Management:Protocols"] = "Http1";
        }
        // Every test reaches identity from 127.0.0.1, so its per-address auth limit would throttle
        // a whole test class; the tests of that limit set their own (ignored by other services).
        _settings["Identity:AuthLimits:PerAddressPermitLimit"] = "1000000";
        // Shared staff accounts (administrator, billing manager) sign in from many tests.
        _settings["Identity:AuthLimits:PerAccountPermitLimit"] = "1000000";
        UseKestrel();
    }

    /// <summary>The host environment (Development unless a test sets another before start).</summary>
    public string EnvironmentName { get; set; } = Environments.Development;

    /// <summary>The folder holding this host's SQLite files.</summary>
    public string DataDirectory { get; }

    /// <summary>Port of the HTTP/1.1 endpoint.</summary>
    public int HttpPort { get; }

    /// <summary>Port of the HTTP/2 (gRPC) endpoint.</summary>
    public int GrpcPort { get; }

    /// <summary>Port of the management endpoint (the edge's health, metrics and status); 0 for the services.</summary>
    public int ManagementPort { get; }

    /// <summary>Base URL of the management endpoint (the edge only).</summary>
    public Uri ManagementUrl => new($"http://127.0.0.1:{ManagementPort}/");

    /// <summary>Base URL of the HTTP/1.1 endpoint (REST, health, metrics, OpenAPI).</summary>
    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort}/");

    /// <summary>Base URL of the HTTP/2 endpoint (gRPC).</summary>
    public Uri GrpcUrl => new($"http://127.0.0.1:{GrpcPort}/");

    /// <summary>Sets a configuration value; call before the host starts.</summary>
    public ServiceHost<TEntryPoint> With(string key, string? value)
    {
        _settings[key] = value;
        return this;
    }

    /// <summary>
    /// Replaces or adds services after the host's own registrations; call before the host starts.
    /// For inputs a test must control that configuration cannot carry (e.g. a name resolver).
    /// </summary>
    public ServiceHost<TEntryPoint> WithServices(Action<IServiceCollection> configure)
    {
        _services.Add(configure);
        return this;
    }

    /// <summary>Starts Kestrel (idempotent) and returns this host.</summary>
    public ServiceHost<TEntryPoint> Start()
    {
        StartServer();
        return this;
    }

    /// <summary>A gRPC channel to the HTTP/2 endpoint over real TCP. The caller disposes it.</summary>
    public GrpcChannel CreateGrpcChannel()
    {
        Start();
        return GrpcChannel.ForAddress(GrpcUrl);
    }

    /// <summary>An HttpClient to the HTTP/1.1 endpoint over real TCP, with a bounded timeout.</summary>
    public HttpClient CreateRestClient()
    {
        Start();
        return new HttpClient { BaseAddress = HttpUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>An HttpClient to the management endpoint (the edge only), with a bounded timeout.</summary>
    public HttpClient CreateManagementClient()
    {
        if (ManagementPort == 0)
        {
            throw new InvalidOperationException($"{typeof(TEntryPoint).Assembly.GetName().Name} has no management endpoint.");
        }
        Start();
        return new HttpClient { BaseAddress = ManagementUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <inheritdoc />
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(EnvironmentName);
        // UseSetting makes the values visible while Program.cs still builds (minimal hosting applies
        // ConfigureAppConfiguration only at Build, too late for e.g. AddVeilSqlite's data folder,
        // dotnet/aspnetcore#37680); the in-memory source keeps them above appsettings.json.
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(_settings));
        foreach (var configure in _services)
        {
            builder.ConfigureTestServices(configure);
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_ownsDataDirectory)
        {
            TryDelete(DataDirectory);
        }
        GC.SuppressFinalize(this);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A pooled SQLite handle may still be closing; the OS temp folder is cleaned anyway.
        }
    }
}

/// <summary>Free TCP ports on loopback.</summary>
public static class FreePort
{
    // Below the kernel's ephemeral range (Linux: 32768–60999): an outgoing connection never takes one
    // of these ports between the check here and the server's bind, which ephemeral "free" ports
    // suffered under load (address already in use). Each test process starts at a random point, so
    // parallel test assemblies walk different stretches; the bind check skips ports in use.
    private const int First = 20_000;
    private const int Count = 12_000;
    private static int _offset = Random.Shared.Next(Count);

    /// <summary>A port outside the ephemeral range that was free a moment ago.</summary>
    public static int Next()
    {
        for (var attempt = 0; attempt < Count; attempt++)
        {
            var port = First + ((Interlocked.Increment(ref _offset) & int.MaxValue) % Count);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: try the next one.
            }
        }
        throw new InvalidOperationException($"No free port between {First} and {First + Count - 1}.");
    }
}

/// <summary>Bounded waiting on a condition, instead of sleeping.</summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes, then throws.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            if (await condition())
            {
                return;
            }
            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"Condition not met within {timeout}: {because}");
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cts.Token);
            }
            catch (OperationCanceledException)
            {
                // Loop once more: the last check decides.
            }
        }
    }
}
