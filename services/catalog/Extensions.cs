using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Catalog.Data;
using Veil.Catalog.Edges;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog;

internal static class Extensions
{
    /// <summary>
    /// The catalog's own registrations: options, the KEK that seals API secrets, store, the
    /// gateway-config feed, the end of signing-secret overlaps, metrics.
    /// </summary>
    public static IHostApplicationBuilder AddCatalogServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CatalogOptions>()
            .BindConfiguration(CatalogOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.AddVeilSecretProtection();
        builder.Services.AddSingleton<ApiSecrets>();
        builder.Services.AddSingleton<CatalogStore>();
        builder.Services.AddHostedService<SigningOverlapExpiry>();
        builder.Services.AddSingleton<GatewayConfigFeed>();
        builder.Services.AddSingleton<EdgeReports>();
        builder.Services.AddSingleton<CatalogMetrics>();
        return builder;
    }
}
