namespace Veil.RateLimit;

/// <summary>The rate-limit service's log messages (EventIds 5000–5999). Never a key or a password.</summary>
internal static partial class RateLimitLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "Rate-limit buckets live in {Store}")]
    public static partial void StoreSelected(ILogger logger, string store);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Connecting to Redis at {Endpoints} (sentinel service: {ServiceName})")]
    public static partial void RedisConnecting(ILogger logger, string endpoints, string serviceName);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Redis connection established to {Endpoint}")]
    public static partial void RedisConnected(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Redis connection to {Endpoint} failed ({FailureType}); retrying in the background")]
    public static partial void RedisConnectionFailed(ILogger logger, string endpoint, string failureType, Exception? exception);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Redis connection to {Endpoint} restored")]
    public static partial void RedisConnectionRestored(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error, Message = "Could not create the Redis connection; retrying on the next call")]
    public static partial void RedisConnectFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Debug, Message = "Could not preload the bucket script; the first call will send it")]
    public static partial void WarmUpFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "Redis circuit breaker opened for {BreakDuration}: rate-limit calls answer UNAVAILABLE and edges use their local buckets")]
    public static partial void BreakerOpened(ILogger logger, TimeSpan breakDuration, Exception? exception);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Information, Message = "Redis circuit breaker half-open: trying Redis again")]
    public static partial void BreakerHalfOpened(ILogger logger);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Information, Message = "Redis circuit breaker closed: Redis answers again")]
    public static partial void BreakerClosed(ILogger logger);

    [LoggerMessage(EventId = 5020, Level = LogLevel.Warning, Message = "In-memory bucket table over {MaxBuckets}: dropped {Evicted} least recently used buckets (they restart full)")]
    public static partial void MemoryEvicted(ILogger logger, int maxBuckets, int evicted);
}
