using Veil.Edge.Dependencies;
using Veil.Identity.V1;

namespace Veil.Edge.Auth;

/// <summary>Composition of the key step: identity's client, the key cache and its invalidation stream.</summary>
internal static class AuthExtensions
{
    /// <summary>
    /// Registers <see cref="ApiKeyValidator"/>, <see cref="KeyChangeWatcher"/> (revocations pushed by
    /// identity; the cache's TTL is the fallback) and the identity gRPC client (<c>http://_grpc.identity</c>).
    /// </summary>
    public static IServiceCollection AddEdgeAuth(this IServiceCollection services)
    {
        services.AddSingleton<ApiKeyValidator>();
        services.AddHostedService<KeyChangeWatcher>();
        services.AddVeilGrpcClient<IdentityService.IdentityServiceClient>("identity")
            .RetryUnavailable(DependencyChannels.ReadAttempts)
            .ConfigurePrimaryHttpMessageHandler(DependencyChannels.WatchHandler);
        return services;
    }
}
