using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// A real upstream on Kestrel whose every answer follows <see cref="Mode"/>: 200 with the request
/// body echoed, a 503, or a reset (the connection aborted before any response byte). Counts what
/// it receives, so tests can tell how many attempts the edge made.
/// </summary>
public sealed class FaultyUpstream : IAsyncDisposable
{
    public enum Behaviour
    {
        Ok,
        Fail503,
        Reset,
    }

    private readonly WebApplication _app;
    private int _hits;
    private volatile Behaviour _mode;

    private FaultyUpstream(WebApplication app, Uri url, Behaviour mode)
    {
        _app = app;
        Url = url;
        _mode = mode;
    }

    public Uri Url { get; }

    public Behaviour Mode
    {
        get => _mode;
        set => _mode = value;
    }

    /// <summary>Requests received, whatever the answer.</summary>
    public int Hits => Volatile.Read(ref _hits);

    /// <summary>"METHOD path body" of each request answered 200.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Served { get; } = new();

    public static async Task<FaultyUpstream> StartAsync(Behaviour mode, CancellationToken cancellationToken)
    {
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add(url.ToString());
        var upstream = new FaultyUpstream(app, url, mode);
        app.Run(async context =>
        {
            Interlocked.Increment(ref upstream._hits);
            switch (upstream.Mode)
            {
                case Behaviour.Reset:
                    context.Abort();
                    return;
                case Behaviour.Fail503:
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    await context.Response.WriteAsync("upstream overloaded");
                    return;
                default:
                    using (var reader = new StreamReader(context.Request.Body))
                    {
                        var body = await reader.ReadToEndAsync();
                        upstream.Served.Enqueue($"{context.Request.Method} {context.Request.Path} {body}".TrimEnd());
                    }
                    await context.Response.WriteAsync("ok");
                    return;
            }
        });
        await app.StartAsync(cancellationToken);
        return upstream;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
