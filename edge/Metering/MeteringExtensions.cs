using Grpc.Net.ClientFactory;
using Microsoft.Extensions.Options;
using Veil.Edge.Usage;
using Veil.Usage.V1;

namespace Microsoft.Extensions.Hosting;

/// <summary>Composition of the edge's metering: the spool, its shipper, the quota watch and the recorder the API call step drives and the quota step.</summary>
public static class EdgeUsageExtensions
{
    /// <summary>
    /// Registers metering (<c>Edge:Usage</c>): spool file <c>{Veil:DataDirectory}/edge-spool.db</c> unless
    /// <c>Edge:Usage:SpoolPath</c> says otherwise, the usage gRPC client (<c>http://_grpc.usage</c>).
    /// Nothing is registered when <c>Edge:Usage:Enabled</c> is false.
    /// </summary>
    public static TBuilder AddEdgeUsage<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<EdgeUsageOptions>().BindConfiguration(EdgeUsageOptions.SectionName).ValidateDataAnnotations().ValidateOnStart()
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.SpoolPath))
                {
                    var directory = builder.Configuration["Veil:DataDirectory"];
                    directory = string.IsNullOrWhiteSpace(directory) ? Path.Combine(builder.Environment.ContentRootPath, ".data") : directory;
                    o.SpoolPath = Path.Combine(directory, "edge-spool.db");
                }
            })
            .Validate(o => o.ShipBackoffMax >= o.ShipBackoffInitial, "Edge:Usage:ShipBackoffMax must not be shorter than ShipBackoffInitial.")
            // A committed group ships whole, in one IngestEvents call.
            .Validate(o => o.GroupCommitMaxEvents <= o.ShipBatchSize, "Edge:Usage:GroupCommitMaxEvents must not exceed ShipBatchSize.");
        if (!builder.Configuration.GetValue(EdgeUsageOptions.SectionName + ":" + nameof(EdgeUsageOptions.Enabled), true))
        {
            return builder;
        }

        services.AddSingleton<UsageSpool>();
        services.AddSingleton<UsageRecorder>();
        services.AddSingleton<Yarp.ReverseProxy.Transforms.Builder.ITransformProvider, UsageTransformProvider>();
        services.AddSingleton<UsageShipper>();
        services.AddSingleton<UsageMetrics>();
        services.AddSingleton<QuotaWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<QuotaWatcher>());
        services.AddHostedService<UsageSpoolService>();
        // No client retry policy: the shipper retries IngestEvents itself (one layer), with backoff.
        services.AddGrpcClient<UsageIngestClient>(o => o.Address = new Uri("http://_grpc.usage"));
        services.AddGrpcClient<UsageService.UsageServiceClient>(o => o.Address = new Uri("http://_grpc.usage"))
            // The quota watch is one long-lived stream: keep-alive pings notice a dead usage service.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                KeepAlivePingDelay = TimeSpan.FromSeconds(20),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                ConnectTimeout = TimeSpan.FromSeconds(5),
                EnableMultipleHttp2Connections = true,
            });
        return builder;
    }

    /// <summary>The quota step: after entitlement (it needs the subscription).</summary>
    public static IApplicationBuilder UseQuotaEnforcement(this IApplicationBuilder pipeline) =>
        Enabled(pipeline) ? pipeline.UseMiddleware<QuotaMiddleware>() : pipeline;

    private static bool Enabled(IApplicationBuilder pipeline) =>
        pipeline.ApplicationServices.GetRequiredService<IOptions<EdgeUsageOptions>>().Value.Enabled;
}
