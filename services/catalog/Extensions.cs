using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.Export;
using Veil.Catalog.Grpc.OpenApi;
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
            .Validate(o => Uri.TryCreate(o.PublicBaseUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" &&
                    url.Query.Length == 0 && url.Fragment.Length == 0,
                "Catalog:PublicBaseUrl must be an absolute http(s) URL without query or fragment (the edge's public address).")
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.AddVeilSecretProtection();
        builder.Services.AddSingleton<ApiSecrets>();
        builder.Services.AddSingleton<CatalogStore>();
        builder.Services.AddHostedService<SigningOverlapExpiry>();
        builder.Services.AddSingleton<GatewayConfigFeed>();
        builder.Services.AddSingleton<CatalogMetrics>();
        builder.Services.AddSingleton<PublicOpenApiDocuments>();
        builder.Services.AddSingleton<HistoryExport>();
        builder.Services.AddSingleton<ExportLedger>();
        builder.Services.AddHostedService<HistoryExportWorker>();
        builder.Services.AddSingleton<IValidateOptions<CatalogOptions>, ExportOptionsValidation>();
        return builder;
    }
}
