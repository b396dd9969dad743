using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Veil.Testing;
using Veil.Usage.V1;

namespace Veil.Edge.Tests;

/// <summary>
/// What a usage service from before grouped events does with an edge's batch, on real Kestrel and
/// gRPC: protobuf skips the unknown <c>groups</c> field, so it counts only the single events and
/// answers OK. Stands in for an old deployment during a rolling upgrade.
/// </summary>
public sealed class PreGroupingUsage : IAsyncDisposable
{
    private readonly WebApplication _app;

    private PreGroupingUsage(WebApplication app, Uri url, Service service)
    {
        _app = app;
        GrpcUrl = url;
        Calls = service;
    }

    public Uri GrpcUrl { get; }

    /// <summary>The IngestEvents calls received so far.</summary>
    public Service Calls { get; }

    public static async Task<PreGroupingUsage> StartAsync(CancellationToken cancellationToken)
    {
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2));
        var service = new Service();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(service);
        var app = builder.Build();
        app.Urls.Add(url.ToString());
        app.MapGrpcService<Service>();
        await app.StartAsync(cancellationToken);
        return new PreGroupingUsage(app, url, service);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    public sealed class Service : UsageService.UsageServiceBase
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public override Task<IngestEventsResponse> IngestEvents(IngestEventsRequest request, ServerCallContext context)
        {
            Interlocked.Increment(ref _count);
            return Task.FromResult(new IngestEventsResponse { Accepted = request.Events.Count });
        }
    }
}
