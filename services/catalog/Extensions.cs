using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Catalog.Data;

namespace Veil.Catalog;

internal static class Extensions
{
    /// <summary>The catalog's own registrations: options, store, the gateway-config feed, metrics.</summary>
    public static IHostApplicationBuilder AddCatalogServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CatalogOptions>()
            .BindConfiguration(CatalogOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CatalogStore>();
        builder.Services.AddSingleton<GatewayConfigFeed>();
        builder.Services.AddSingleton<CatalogMetrics>();
        return builder;
    }
}
