using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Telemetry;
using Polly.Timeout;
using Veil.RateLimit.Data;

namespace Veil.RateLimit;

internal static class Extensions
{
    /// <summary>
    /// The service's own registrations: options, metrics, and the bucket store: Redis when
    /// <c>RateLimit:Redis:Configuration</c> is set, else process memory.
    /// </summary>
    public static IHostApplicationBuilder AddRateLimitServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>()
            .BindConfiguration(RateLimitOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RateLimitMetrics>();

        var redisSection = $"{RateLimitOptions.SectionName}:Redis";
        if (string.IsNullOrWhiteSpace(builder.Configuration[$"{redisSection}:Configuration"]))
        {
            builder.Services.AddSingleton<MemoryBucketStore>();
            builder.Services.AddSingleton<IBucketStore>(sp => sp.GetRequiredService<MemoryBucketStore>());
        }
        else
        {
            builder.AddVeilRedis(redisSection);
            builder.Services.AddSingleton<IBucketStore>(sp => new RedisBucketStore(
                sp.GetRequiredService<RedisConnection>(),
                sp.GetRequiredService<Polly.Registry.ResiliencePipelineProvider<string>>().GetPipeline(RedisBucketStore.PipelineName),
                sp.GetRequiredService<IOptions<VeilRedisSettings>>().Value,
                sp.GetRequiredService<RateLimitMetrics>()));
        }
        builder.Services.AddHostedService<StoreStartup>();
        return builder;
    }

    /// <summary>
    /// The Aspire component pattern for Redis: <see cref="VeilRedisSettings"/> bound from
    /// <paramref name="configSection"/> and validated at start, one shared connection made in the
    /// background, a readiness check (PING), and the <c>veil-redis</c> resilience pipeline: a
    /// timeout inside a circuit breaker whose transitions are logged once and exported as the
    /// <c>veil.ratelimit.redis.breaker.state</c> gauge.
    /// </summary>
    public static IHostApplicationBuilder AddVeilRedis(this IHostApplicationBuilder builder, string configSection)
    {
        builder.Services.AddOptions<VeilRedisSettings>()
            .BindConfiguration(configSection)
            .ValidateDataAnnotations()
            .Validate(s => !string.IsNullOrWhiteSpace(s.Configuration), "RateLimit:Redis:Configuration is required in Redis mode.")
            .ValidateOnStart();
        builder.Services.AddSingleton<RedisConnection>();
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: ["ready"]);

        // Polly's own event logs would repeat every timeout of an outage at Warning; the
        // transitions that matter are logged once by RateLimitLog instead.
        builder.Services.Configure<TelemetryOptions>(o => o.SeverityProvider = _ => ResilienceEventSeverity.Debug);
        builder.Services.AddResiliencePipeline(RedisBucketStore.PipelineName, (pipeline, context) =>
        {
            var settings = context.ServiceProvider.GetRequiredService<IOptions<VeilRedisSettings>>().Value;
            var logger = context.ServiceProvider.GetRequiredService<ILogger<RedisBucketStore>>();
            var metrics = context.ServiceProvider.GetRequiredService<RateLimitMetrics>();
            var state = new CircuitBreakerStateProvider();
            metrics.Meter.CreateObservableGauge("veil.ratelimit.redis.breaker.state", () => (int)state.CircuitState, "{state}",
                "Redis circuit breaker: 0 closed, 1 open, 2 half-open, 3 isolated.");
            pipeline
                .AddCircuitBreaker(new CircuitBreakerStrategyOptions
                {
                    FailureRatio = settings.BreakerFailureRatio,
                    MinimumThroughput = settings.BreakerMinimumThroughput,
                    SamplingDuration = settings.BreakerSamplingDuration,
                    BreakDuration = settings.BreakerBreakDuration,
                    StateProvider = state,
                    OnOpened = args =>
                    {
                        RateLimitLog.BreakerOpened(logger, args.BreakDuration, args.Outcome.Exception);
                        return ValueTask.CompletedTask;
                    },
                    OnHalfOpened = _ =>
                    {
                        RateLimitLog.BreakerHalfOpened(logger);
                        return ValueTask.CompletedTask;
                    },
                    OnClosed = _ =>
                    {
                        RateLimitLog.BreakerClosed(logger);
                        return ValueTask.CompletedTask;
                    },
                })
                // Inside the breaker, so that a slow Redis counts as a failing one.
                .AddTimeout(new TimeoutStrategyOptions { Timeout = settings.Timeout });
        });
        return builder;
    }
}

/// <summary>Logs the chosen store and, in Redis mode, connects and preloads the script in the background.</summary>
internal sealed class StoreStartup(IBucketStore store, IHostApplicationLifetime lifetime, ILogger<StoreStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        RateLimitLog.StoreSelected(logger, store.Name);
        if (store is RedisBucketStore redis)
        {
            // Not awaited: the service starts (and answers UNAVAILABLE) while Redis is down.
            _ = redis.WarmUpAsync(logger, lifetime.ApplicationStopping);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
