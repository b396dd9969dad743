using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Billing.Data;
using Veil.Billing.Invoicing;
using Veil.Billing.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;
using Veil.Usage.V1;

namespace Veil.Billing;

internal static class Extensions
{
    /// <summary>
    /// Billing's own registrations: validated options, the store, invoicing (draft sync, idle drafts,
    /// finalisation, reconciliation) and its jobs, the credit-hold policy, metrics, and the usage and
    /// subscriptions clients.
    /// </summary>
    public static IHostApplicationBuilder AddBillingServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<BillingOptions>()
            .BindConfiguration(BillingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // Every clock read in billing goes through TimeProvider, so tests can move time.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<BillingMetrics>();
        services.AddSingleton<BillingStore>();
        services.AddSingleton<CreditHoldPolicy>();
        // Invoicing: one instance each, so the job gate and the log-once sets are the process's.
        services.AddSingleton<JobGate>();
        services.AddSingleton<BatchReport>();
        services.AddSingleton<CyclePricer>();
        services.AddSingleton<IdleDrafts>();
        services.AddSingleton<Finalization>();
        services.AddSingleton<DraftSync>();
        services.AddSingleton<Reconciliation>();
        services.AddHostedService<BillingJobs>();
        // Transient like the typed gRPC clients they wrap, so the client factory can rotate handlers;
        // the singletons above take a Func<T> and ask it for one per run or read instead of holding one.
        AddPerUseClient<UsageCycles>(services);
        AddPerUseClient<CycleTermsSource>(services);
        AddPerUseClient<SubscriptionPeriods>(services);

        // "_grpc." picks the gRPC endpoint from services:<name>:grpc:0. Billing only reads from both
        // (ListCycleUsage, GetCycleTerms, ListSubscriptionsForBilling), so the clients may retry Unavailable within each call's deadline;
        // a job that still fails simply runs again at its next tick.
        services.AddVeilGrpcClient<UsageService.UsageServiceClient>("usage").RetryUnavailable();
        services.AddVeilGrpcClient<SubscriptionService.SubscriptionServiceClient>("subscriptions").RetryUnavailable();
        // REST creates answer 201 (docs/architecture.md); adjustments and runs are read through their lists: no Location.
        builder.Services.AddCreatedLocation<CreateAdjustmentResponse>(_ => "");
        builder.Services.AddCreatedLocation<RunReconciliationResponse>(_ => "");
        return builder;
    }

    private static void AddPerUseClient<T>(IServiceCollection services) where T : class
    {
        services.AddTransient<T>();
        services.AddSingleton<Func<T>>(provider => () => provider.GetRequiredService<T>());
    }
}
