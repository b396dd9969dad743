using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// A real provider upstream on Kestrel: <c>/slow</c> sleeps 5 s (longer than any timeout the tests
/// set); every other path answers with the method, path, query and headers it received, as JSON.
/// </summary>
public sealed class EchoUpstream : IAsyncDisposable
{
    /// <summary>The body of <c>/sized</c> (sent with a Content-Length).</summary>
    public const string SizedBody = "a body with a declared length";

    /// <summary>The body of <c>/chunked</c> (sent in two flushed parts, no Content-Length).</summary>
    public const string ChunkedBody = "first part, then the second part of a chunked body";

    private readonly WebApplication _app;

    private EchoUpstream(WebApplication app, Uri url, ConcurrentQueue<string> paths)
    {
        _app = app;
        Url = url;
        Paths = paths;
    }

    public Uri Url { get; }

    /// <summary>The path of every request received, in order.</summary>
    public ConcurrentQueue<string> Paths { get; }

    public static async Task<EchoUpstream> StartAsync(CancellationToken cancellationToken)
    {
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/");
        var builder = WebApplication.CreateSlimBuilder();
        // The test folder holds the services' appsettings.json (with their Kestrel endpoints); this
        // host listens only where it is told.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add(url.ToString());
        var paths = new ConcurrentQueue<string>();
        app.Use((context, next) =>
        {
            paths.Enqueue(context.Request.Path.Value ?? "");
            return next(context);
        });
        app.MapGet("/slow", async (CancellationToken ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return Results.Text("late");
        });
        // Bodies of known size, for byte counting: one with a Content-Length, one chunked.
        app.MapGet("/sized", async (HttpResponse response) =>
        {
            response.ContentLength = SizedBody.Length;
            await response.WriteAsync(SizedBody);
        });
        app.MapGet("/chunked", async (HttpResponse response) =>
        {
            await response.WriteAsync(ChunkedBody[..10]);
            await response.Body.FlushAsync();
            await response.WriteAsync(ChunkedBody[10..]);
        });
        app.Map("/{**path}", (HttpRequest request) =>
        {
            var headers = new JsonObject();
            foreach (var (name, value) in request.Headers)
            {
                headers[name.ToLowerInvariant()] = value.ToString();
            }
            return Results.Json(new JsonObject
            {
                ["method"] = request.Method,
                ["path"] = request.Path.Value,
                ["query"] = request.QueryString.Value,
                ["headers"] = headers,
            });
        });
        await app.StartAsync(cancellationToken);
        return new EchoUpstream(app, url, paths);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
