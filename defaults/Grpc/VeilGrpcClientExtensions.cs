using Veil.ServiceDefaults.Grpc;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// How every Veil process registers a typed gRPC client to another service of the fleet, and the
/// one retry policy those clients use (grpc-dotnet Retrier: client-side retries on
/// <c>Unavailable</c>, for idempotent reads only, inside each call's deadline).
/// </summary>
public static class VeilGrpcClientExtensions
{
    /// <summary>
    /// A typed client of <paramref name="serviceName"/>'s gRPC endpoint: the address
    /// <c>http://_grpc.{serviceName}</c> makes service discovery pick
    /// <c>services:{serviceName}:grpc:0</c> (the plaintext HTTP/2 port). No retry policy: add
    /// <see cref="RetryUnavailable"/> only where every unary call the client makes is a read.
    /// </summary>
    public static IHttpClientBuilder AddVeilGrpcClient<TClient>(this IServiceCollection services, string serviceName)
        where TClient : class =>
        services.AddGrpcClient<TClient>(o => o.Address = new Uri($"http://_grpc.{serviceName}"));

    /// <summary>
    /// Retries <c>Unavailable</c> up to <paramref name="maxAttempts"/> attempts in all (the first
    /// included), 100 ms then doubling to at most 500 ms between attempts, within the call's
    /// deadline. Only for clients whose calls are idempotent: a retried write could apply twice.
    /// </summary>
    public static IHttpClientBuilder RetryUnavailable(this IHttpClientBuilder builder, int maxAttempts = VeilGrpcRetry.DefaultMaxAttempts) =>
        builder.ConfigureChannel(o => o.ServiceConfig = VeilGrpcRetry.Unavailable(maxAttempts));
}
