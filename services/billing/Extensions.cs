using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Veil.Billing.Data;
using Veil.Subscriptions.V1;
using Veil.Usage.V1;

namespace Veil.Billing;

internal static class Extensions
{
    /// <summary>
    /// Billing's own registrations: validated options, the store, the invoice engine and its jobs,
    /// the credit-hold policy, metrics, and the usage and subscriptions clients.
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
        services.AddSingleton<InvoiceEngine>();
        services.AddSingleton<CreditHoldPolicy>();
        services.AddSingleton<PlanTermsCache>();
        services.AddHostedService<BillingJobs>();
        // Transient like the typed gRPC clients they wrap, so the client factory can rotate handlers.
        services.AddTransient<UsageCycles>();
        services.AddTransient<PlanTermsSource>();
        services.AddTransient<SubscriptionPeriods>();

        // "_grpc." picks the gRPC endpoint from services:<name>:grpc:0. Billing only reads from both
        // (ListCycleUsage, GetPlan, ListSubscriptionsForBilling), so the clients may retry Unavailable within each call's deadline;
        // a job that still fails simply runs again at its next tick.
        services.AddGrpcClient<UsageService.UsageServiceClient>(o => o.Address = new Uri("http://_grpc.usage"))
            .ConfigureChannel(o => o.ServiceConfig = RetryUnavailable());
        services.AddGrpcClient<SubscriptionService.SubscriptionServiceClient>(o => o.Address = new Uri("http://_grpc.subscriptions"))
            .ConfigureChannel(o => o.ServiceConfig = RetryUnavailable());
        return builder;
    }

    private static ServiceConfig RetryUnavailable() => new()
    {
        MethodConfigs =
        {
            new MethodConfig
            {
                Names = { MethodName.Default },
                RetryPolicy = new RetryPolicy
                {
                    MaxAttempts = 3,
                    InitialBackoff = TimeSpan.FromMilliseconds(100),
                    MaxBackoff = TimeSpan.FromMilliseconds(500),
                    BackoffMultiplier = 2,
                    RetryableStatusCodes = { StatusCode.Unavailable },
                },
            },
        },
    };
}
