using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// One upstream target on Kestrel (loopback): <c>/health</c> answers <see cref="HealthStatus"/>
/// and is counted in <see cref="Probes"/>; every other path answers 200 with the target's name and
/// is counted in <see cref="Calls"/>. <see cref="StopAsync"/> kills it; <see cref="StartAsync"/>
/// brings it back on the same port.
/// </summary>
public sealed class HealthTarget : IAsyncDisposable
{
    private readonly int _port = FreePort.Next();
    private WebApplication? _app;
    private int _calls;
    private int _probes;

    private HealthTarget(string name) => Name = name;

    public string Name { get; }

    public Uri Url => new($"http://127.0.0.1:{_port}/");

    /// <summary>The status <c>/health</c> answers (200 unless a test says otherwise).</summary>
    public HttpStatusCode HealthStatus { get; set; } = HttpStatusCode.OK;

    /// <summary>Requests to any path but <c>/health</c>.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Requests to <c>/health</c>.</summary>
    public int Probes => Volatile.Read(ref _probes);

    public static async Task<HealthTarget> StartAsync(string name)
    {
        var target = new HealthTarget(name);
        await target.StartAsync();
        return target;
    }

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add(Url.ToString());
        app.MapGet("/health", () =>
        {
            Interlocked.Increment(ref _probes);
            return Results.StatusCode((int)HealthStatus);
        });
        app.Map("/{**path}", () =>
        {
            Interlocked.Increment(ref _calls);
            return Results.Text(Name);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        _app = app;
    }

    /// <summary>Stops the host: its port refuses connections until <see cref="StartAsync()"/>.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(TestContext.Current.CancellationToken);
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
