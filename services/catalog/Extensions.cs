using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.Catalog.Edges;
using Veil.Catalog.Lifecycle;
using Veil.Subscriptions.V1;
using Veil.Catalog.Export;
using Veil.Catalog.Grpc.OpenApi;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog;

internal static class Extensions
{
    /// <summary>
    /// The catalog's own registrations: options, the KEK that seals API secrets, store, the
    /// gateway-config feed, the end of signing-secret overlaps, metrics, the lifecycle push to subscriptions.
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
        builder.Services.AddSingleton<EdgeReports>();
        builder.Services.AddSingleton<CatalogMetrics>();

        // API lifecycle (suspend, deprecate, delete): pushed to subscriptions, which refuses new
        // subscriptions and cancels at the sunset. SetApiLifecycle is idempotent (revisions), but
        // LifecycleSync retries on its own, so the client does not.
        builder.Services.AddOptions<CatalogLifecycleOptions>()
            .BindConfiguration(CatalogLifecycleOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<LifecycleSync>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LifecycleSync>());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["services:subscriptions:grpc:0"]))
        {
            builder.Services.AddVeilGrpcClient<SubscriptionService.SubscriptionServiceClient>("subscriptions");
        }

        builder.Services.AddSingleton<PublicOpenApiDocuments>();
        builder.Services.AddSingleton<HistoryExport>();
        builder.Services.AddSingleton<ExportLedger>();
        builder.Services.AddHostedService<HistoryExportWorker>();
        builder.Services.AddSingleton<IValidateOptions<CatalogOptions>, ExportOptionsValidation>();

        // REST creates answer 201 with the new resource's Location (docs/architecture.md).
        builder.Services.AddCreatedLocation<CreateApiResponse>(r => $"/v1/apis/{r.Api.Id}");
        return builder;
    }
}
