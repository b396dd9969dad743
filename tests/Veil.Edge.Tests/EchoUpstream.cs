using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Veil.Testing;

namespace Veil.Edge.Tests;

/// <summary>
/// A real provider upstream on Kestrel: <c>/slow</c> sleeps 5 s (longer than any timeout the tests
/// set); <c>POST /upload/{id}</c> reads the whole body and notes in <see cref="Uploads"/> how it
/// went; <c>/cookie</c> sets a cookie; <c>/own-cors</c> sends its own wide-open CORS headers; every
/// other path answers with the method, path, query and headers it received, as JSON.
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

    /// <summary>By upload id: "complete:{bytes}" once a body was read to its end, "aborted:{bytes}" when reading it failed.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, string> Uploads { get; } = new();

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
        var upstream = new EchoUpstream(app, url, paths);
        app.MapGet("/slow", async (CancellationToken ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            return Results.Text("late");
        });
        // Bodies of known size, for byte counting: one with a Content-Length, one chunked.
        app.MapMethods("/sized", ["GET", "HEAD"], async (HttpResponse response) =>
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
        app.MapPost("/upload/{id}", async (string id, HttpRequest request) =>
        {
            var buffer = new byte[16 * 1024];
            long bytes = 0;
            try
            {
                int read;
                while ((read = await request.Body.ReadAsync(buffer)) > 0)
                {
                    bytes += read;
                }
            }
            catch (Exception ex) when (ex is IOException or BadHttpRequestException or OperationCanceledException)
            {
                upstream.Uploads[id] = "aborted:" + bytes;
                throw;
            }
            upstream.Uploads[id] = "complete:" + bytes;
            return Results.Text("received " + bytes);
        });
        app.MapGet("/cookie", (HttpResponse response) =>
        {
            response.Headers.SetCookie = "session=provider-secret; Path=/; HttpOnly";
            return Results.Text("with a cookie");
        });
        // An upstream that answers CORS itself (wide open): the edge replaces it for APIs with a policy.
        app.MapGet("/own-cors", (HttpResponse response) =>
        {
            response.Headers.AccessControlAllowOrigin = "*";
            response.Headers.AccessControlAllowCredentials = "true";
            return Results.Text("own cors");
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
        return upstream;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
