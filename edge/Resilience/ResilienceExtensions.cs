namespace Veil.Edge.Resilience;

/// <summary>Composition of the resilience step: circuit breakers and retries (docs/resilience.md).</summary>
internal static class ResilienceExtensions
{
    public static IServiceCollection AddEdgeResilience(this IServiceCollection services)
    {
        services.AddSingleton<ResilienceRegistry>();
        services.AddSingleton<ResilienceMetrics>();
        return services;
    }

    /// <summary>The resilience step: around load balancing and forwarding, so each attempt picks its target anew.</summary>
    public static IApplicationBuilder UseResilience(this IApplicationBuilder pipeline) => pipeline.UseMiddleware<ResilienceMiddleware>();
}
