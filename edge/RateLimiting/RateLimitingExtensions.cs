using System.Net.Http;
using Microsoft.Extensions.Options;
using Veil.RateLimit.V1;

namespace Veil.Edge.RateLimiting;

/// <summary>Composition of the edge's rate limiting: services, and its two pipeline steps.</summary>
internal static class RateLimitingExtensions
{
    /// <summary>Options from <c>Edge:RateLimiting</c>, the limiter, the lease renewer and the ratelimit gRPC client.</summary>
    public static IServiceCollection AddEdgeRateLimiting(this IServiceCollection services)
    {
        services.AddOptions<RateLimitingOptions>().BindConfiguration(RateLimitingOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => Valid(o.Ip) && Valid(o.Key) && Valid(o.Consumer),
                "Edge:RateLimiting:{Ip,Key,Consumer} need Quota ≥ 1, Burst ≥ 1 and a Window of whole seconds ≥ 1 s.")
            .ValidateOnStart();
        services.AddSingleton<RateLimitMetrics>();
        services.AddSingleton<EdgeRateLimiter>();
        services.AddHostedService<LeaseRenewalService>();
        // One attempt per call, no retry policy: AcquireLease is not idempotent (a retry takes
        // tokens twice), and a failure means "degrade now" anyway.
        services.AddVeilGrpcClient<RateLimitService.RateLimitServiceClient>("ratelimit")
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(1),
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            });
        services.AddSingleton(sp =>
        {
            // Observe the degraded state as a gauge on the same meter.
            var metrics = sp.GetRequiredService<RateLimitMetrics>();
            var limiter = sp.GetRequiredService<EdgeRateLimiter>();
            metrics.Meter.CreateObservableGauge("veil.edge.ratelimit.degraded", () => limiter.IsDegraded ? 1 : 0, "{state}",
                "1 while the ratelimit service is unavailable and this edge enforces local limits at limit / N.");
            metrics.Meter.CreateObservableGauge("veil.edge.ratelimit.buckets", () => limiter.BucketCount, "{bucket}",
                "Buckets this edge holds leases or local state for.");
            return new RateLimitGauges();
        });
        return services;
    }

    /// <summary>The IP limit: before the key check.</summary>
    public static IApplicationBuilder UseIpRateLimit(this IApplicationBuilder pipeline) =>
        pipeline.ApplicationServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Enabled
            ? pipeline.UseMiddleware<IpRateLimitMiddleware>()
            : pipeline;

    /// <summary>The key, consumer and plan limits: after the entitlement check.</summary>
    public static IApplicationBuilder UseConsumerRateLimits(this IApplicationBuilder pipeline)
    {
        if (!pipeline.ApplicationServices.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Enabled)
        {
            return pipeline;
        }
        // Creating the gauges once the pipeline is built.
        pipeline.ApplicationServices.GetRequiredService<RateLimitGauges>();
        return pipeline.UseMiddleware<ConsumerRateLimitMiddleware>();
    }

    private static bool Valid(LimitOptions? limit) =>
        limit is { Quota: >= 1, Burst: >= 1 } && limit.Window >= TimeSpan.FromSeconds(1) && limit.Window.Ticks % TimeSpan.TicksPerSecond == 0;
}
