using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Veil.Edge.Metering;

/// <summary>
/// Composition of the edge's metering: the recorder the call step drives (<see cref="IApiCallRecorder"/>),
/// the response transform that counts bodies of unknown length, the spool and its shipper.
/// </summary>
internal static class MeteringExtensions
{
    /// <summary>
    /// Registers metering (<c>Edge:Usage</c>): spool file <c>{Veil:DataDirectory}/edge-spool.db</c> unless
    /// <c>Edge:Usage:SpoolPath</c> says otherwise, the usage gRPC client (<c>http://_grpc.usage</c>).
    /// Nothing but the options is registered when <c>Edge:Usage:Enabled</c> is false.
    /// </summary>
    public static TBuilder AddEdgeMetering<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
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
        services.AddSingleton<IApiCallRecorder, UsageRecorder>();
        services.AddSingleton<ITransformProvider, UsageTransformProvider>();
        services.AddSingleton<UsageShipper>();
        services.AddSingleton<UsageMetrics>();
        services.AddHostedService<UsageSpoolService>();
        // No client retry policy: the shipper retries IngestEvents itself (one layer), with backoff.
        services.AddVeilGrpcClient<UsageIngestClient>("usage");
        return builder;
    }
}
