using Veil.Edge.Dependencies;
using Veil.Subscriptions.V1;

namespace Veil.Edge.Entitlement;

/// <summary>Composition of the entitlement step: subscriptions' client, the entitlement cache and its invalidation stream.</summary>
internal static class EntitlementExtensions
{
    /// <summary>
    /// Registers <see cref="EntitlementChecker"/>, <see cref="SubscriptionChangeWatcher"/> (cancellations
    /// pushed by subscriptions; the cache's TTL is the fallback) and the subscriptions gRPC client
    /// (<c>http://_grpc.subscriptions</c>).
    /// </summary>
    public static IServiceCollection AddEdgeEntitlement(this IServiceCollection services)
    {
        services.AddSingleton<EntitlementChecker>();
        services.AddHostedService<SubscriptionChangeWatcher>();
        services.AddVeilGrpcClient<SubscriptionService.SubscriptionServiceClient>("subscriptions")
            .RetryUnavailable(DependencyChannels.ReadAttempts)
            .ConfigurePrimaryHttpMessageHandler(DependencyChannels.WatchHandler);
        return services;
    }
}
