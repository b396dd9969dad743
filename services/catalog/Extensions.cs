using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Catalog.Data;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
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
        builder.Services.AddSingleton<CatalogMetrics>();
        // REST creates answer 201 with the new resource's Location (docs/architecture.md).
        builder.Services.AddCreatedLocation<CreateApiResponse>(r => $"/v1/apis/{r.Api.Id}");
        return builder;
    }
}
