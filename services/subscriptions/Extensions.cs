using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Billing.V1;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.Lifecycle;
using Veil.Subscriptions.V1;
using Veil.Usage.V1;

namespace Veil.Subscriptions;

internal static class Extensions
{
    /// <summary>The service's own registrations: options, store, the catalog client, metrics.</summary>
    public static IHostApplicationBuilder AddSubscriptionsServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SubscriptionsOptions>()
            .BindConfiguration(SubscriptionsOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SubscriptionsStore>();
        builder.Services.AddSingleton<SubscriptionsMetrics>();
        // Cancellations and new subscriptions pushed to every edge (WatchSubscriptionChanges).
        builder.Services.AddSingleton<ChangeFeed<SubscriptionChange>>();
        // Transient like the typed gRPC client it wraps, so the client factory can rotate handlers.
        builder.Services.AddTransient<CatalogApis>();

        // A deleted API's subscriptions end at its sunset (pushed by catalog's SetApiLifecycle).
        builder.Services.AddSingleton<ApiSunsetWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ApiSunsetWorker>());
        // Their subscribers' webhook notices (api.deprecated, api.retiring), through usage's outbox.
        // NotifyConsumers is idempotent per notice id, but the worker retries on its own.
        builder.Services.AddSingleton<ApiNoticeWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ApiNoticeWorker>());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["services:usage:grpc:0"]))
        {
            builder.Services.AddVeilGrpcClient<UsageService.UsageServiceClient>("usage");
        }

        builder.Services.AddTransient<CreditHolds>();
        builder.Services.AddHostedService<CreditHoldsNotice>();

        // "_grpc." picks catalog's gRPC endpoint from services:catalog:grpc:0. Only idempotent reads
        // (GetApi) go to catalog, so the client may retry Unavailable, within each call's deadline.
        builder.Services.AddVeilGrpcClient<CatalogService.CatalogServiceClient>("catalog").RetryUnavailable();

        // Credit holds are enforced only where billing is part of the fleet. CheckCreditHold is a
        // read, so the client may retry Unavailable within the call's deadline.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["services:billing:grpc:0"]))
        {
            builder.Services.AddVeilGrpcClient<BillingService.BillingServiceClient>("billing").RetryUnavailable();
        }

        // plan.changed notices go to usage's NotifyConsumers, which queues each notice id once, so
        // retrying it on Unavailable is safe. Without usage they stay queued (logged once).
        builder.Services.AddSingleton<PlanNotices>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<PlanNotices>());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["services:usage:grpc:0"]))
        {
            builder.Services.AddVeilGrpcClient<UsageService.UsageServiceClient>("usage").RetryUnavailable();
        }

        // REST creates answer 201 with the new resource's Location; a resumed subscription is no create (200).
        builder.Services.AddCreatedLocation<CreatePlanResponse>(r => $"/v1/plans/{r.Plan.Id}");
        builder.Services.AddCreatedLocation<SubscribeResponse>(r => r.Resumed ? null : $"/v1/subscriptions/{r.Subscription.Id}");
        return builder;
    }
}
