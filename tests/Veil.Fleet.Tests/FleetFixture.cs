using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Veil.Testing;

namespace Veil.Fleet.Tests;

/// <summary>
/// Starts the real fleet once for the test class: the AppHost with free ports and a temporary
/// data folder, every service as its own process, waiting until each reports healthy.
/// </summary>
public sealed class FleetFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    private DistributedApplication? _app;

    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("veil-fleet-").FullName;

    public Dictionary<string, int> Ports { get; } = new()
    {
        ["edge:http"] = FreePort.Next(),
        ["edge:management"] = FreePort.Next(),
        ["edge:grpc"] = FreePort.Next(),
        ["identity:http"] = FreePort.Next(),
        ["identity:grpc"] = FreePort.Next(),
        ["catalog:http"] = FreePort.Next(),
        ["catalog:grpc"] = FreePort.Next(),
        ["subscriptions:http"] = FreePort.Next(),
        ["subscriptions:grpc"] = FreePort.Next(),
        ["ratelimit:http"] = FreePort.Next(),
        ["ratelimit:grpc"] = FreePort.Next(),
        ["usage:http"] = FreePort.Next(),
        ["usage:grpc"] = FreePort.Next(),
        ["billing:http"] = FreePort.Next(),
        ["billing:grpc"] = FreePort.Next(),
        ["upstream:http"] = FreePort.Next(),
    };

    public Uri EdgeUrl => new($"http://localhost:{Ports["edge:http"]}/");

    public Uri UpstreamUrl => new($"http://localhost:{Ports["upstream:http"]}");

    public async ValueTask InitializeAsync()
    {
        using var cts = new CancellationTokenSource(StartTimeout);
        var args = Ports.Select(p => $"--Veil:Ports:{p.Key}={p.Value}")
            .Append($"--Veil:DataDirectory={DataDirectory}")
            .ToArray();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Veil_AppHost>(args, cts.Token);
        _app = await builder.BuildAsync(cts.Token);
        await _app.StartAsync(cts.Token);
        foreach (var resource in new[] { "identity", "catalog", "subscriptions", "ratelimit", "usage", "billing", "upstream", "edge" })
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
    }

    public HttpClient CreateEdgeClient() => new() { BaseAddress = EdgeUrl, Timeout = TimeSpan.FromSeconds(30) };

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Processes may still hold SQLite files for a moment; the temp folder is cleaned by the OS.
        }
    }
}
