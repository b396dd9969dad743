using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Veil.ServiceDefaults.Grpc;
using Veil.Testing;

namespace Veil.Catalog.Tests;

/// <summary>
/// The REST error middleware every service runs (defaults/Grpc), on real Kestrel with handlers
/// that stand in for JSON transcoding: errors become problems, successes are not held back.
/// </summary>
public sealed class ProblemDetailsMiddlewareTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _port = FreePort.Next();
    private WebApplication _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        // Not the catalog's appsettings.json (copied next to the tests): only this endpoint.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Http:Url"] = $"http://127.0.0.1:{_port}" });
        _app = builder.Build();
        _app.UseMiddleware<TranscodingProblemDetailsMiddleware>();
        // A large success whose handler is still running after its first 256 KiB.
        _app.MapGet("/v1/large", async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("[\"" + new string('x', 256 * 1024)), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            await _release.Task.WaitAsync(Bound, context.RequestAborted);
            await context.Response.Body.WriteAsync("\"]"u8.ToArray(), context.RequestAborted);
        });
        // What transcoding writes for InvalidArgument with a BadRequest detail.
        _app.MapGet("/v1/invalid", async context =>
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""
                {"code":3,"message":"The request has invalid fields: page_token.","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"page_token","description":"Not a next_page_token from this list."}]}]}
                """, context.RequestAborted);
        });
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Success_LargeBody_ReachesTheClientWhileTheHandlerStillRuns()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}/") };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Bound);

        // The handler has not finished (it waits for _release): a middleware holding the body until
        // then would send nothing, not even the headers, and this read would time out.
        using var response = await http.GetAsync("v1/large", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
        var first = new byte[256 * 1024];
        await body.ReadExactlyAsync(first, timeout.Token);
        _release.SetResult();
        var rest = await new StreamReader(body).ReadToEndAsync(timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((byte)'x', first[^1]);
        Assert.Equal("xx\"]", rest); // the first read took "[\"" and all but two of the x's
    }

    [Fact]
    public async Task Error_TranscodedStatus_BecomesAProblemWithFieldErrors()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}/"), Timeout = Bound };

        using var response = await http.GetAsync("v1/invalid", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("The request has invalid fields: pageToken.", problem.GetProperty("detail").GetString());
        Assert.Equal(["Not a next_page_token from this list."],
            problem.GetProperty("errors").GetProperty("pageToken").EnumerateArray().Select(e => e.GetString()));
    }
}
