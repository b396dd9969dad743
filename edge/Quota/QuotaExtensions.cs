using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.Usage.V1;

namespace Veil.Edge.Quota;

/// <summary>Composition of the quota step: usage's quota watch, and the step itself.</summary>
internal static class QuotaExtensions
{
    /// <summary>
    /// Registers the quota watch (<c>WatchQuotaStates</c> on <c>http://_grpc.usage</c>). Nothing but
    /// the options is registered when <c>Edge:Usage:Enabled</c> is false.
    /// </summary>
    public static TBuilder AddEdgeQuota<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var services = builder.Services;
        services.AddOptions<QuotaOptions>().BindConfiguration(QuotaOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        if (!builder.Configuration.GetValue(QuotaOptions.SectionName + ":" + nameof(QuotaOptions.Enabled), true))
        {
            return builder;
        }

        services.AddSingleton<QuotaMetrics>();
        services.AddSingleton<QuotaWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<QuotaWatcher>());
        // The quota watch is one long-lived stream: keep-alive pings notice a dead usage service.
        services.AddVeilGrpcClient<UsageService.UsageServiceClient>("usage")
            .ConfigurePrimaryHttpMessageHandler(DependencyChannels.WatchHandler);
        return builder;
    }

    /// <summary>The quota step: after entitlement (it needs the subscription).</summary>
    public static IApplicationBuilder UseQuotaEnforcement(this IApplicationBuilder pipeline) =>
        pipeline.ApplicationServices.GetRequiredService<IOptions<QuotaOptions>>().Value.Enabled
            ? pipeline.UseMiddleware<QuotaMiddleware>()
            : pipeline;
}
