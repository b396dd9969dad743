using Grpc.Core;

namespace Veil.Edge;

/// <summary>The edge's log events (EventIds 4000–4999). No key, token or secret is ever a parameter.</summary>
internal static partial class EdgeLog
{
    [LoggerMessage(4000, LogLevel.Information, "Watching gateway config from catalog as {EdgeId}")]
    public static partial void WatchStarted(ILogger logger, string edgeId);

    [LoggerMessage(4001, LogLevel.Warning, "Gateway config watch lost ({Status}); keeping revision {Revision} with {RouteCount} API routes and reconnecting")]
    public static partial void WatchLost(ILogger logger, StatusCode status, long revision, int routeCount, Exception? exception);

    [LoggerMessage(4002, LogLevel.Information, "Gateway config watch connected at revision {Revision}")]
    public static partial void WatchConnected(ILogger logger, long revision);

    [LoggerMessage(4003, LogLevel.Debug, "Gateway config watch still down ({Status}); next try in {Delay}")]
    public static partial void WatchRetry(ILogger logger, StatusCode status, TimeSpan delay);

    [LoggerMessage(4004, LogLevel.Information, "Applying gateway config revision {Revision}: {RouteCount} API routes")]
    public static partial void ConfigApplying(ILogger logger, long revision, int routeCount);

    [LoggerMessage(4005, LogLevel.Error, "Not serving API {ApiId} (slug '{Slug}'): its config version {Version} cannot be applied ({Reason}) and no earlier version was")]
    public static partial void RouteSkipped(ILogger logger, string apiId, string slug, long version, string reason);

    [LoggerMessage(4008, LogLevel.Error, "Config version {Version} of API {ApiId} cannot be applied ({Reason}); still serving its version {Served}")]
    public static partial void RouteKeptPrevious(ILogger logger, string apiId, long version, string reason, long served);

    [LoggerMessage(4006, LogLevel.Error, "The proxy rejected gateway config revision {Revision}; still serving revision {Served}")]
    public static partial void ConfigRejected(ILogger logger, long revision, long served, Exception exception);

    [LoggerMessage(4007, LogLevel.Warning, "Catalog is unreachable ({Status}); serving management routes only until it answers")]
    public static partial void WatchUnavailableAtStart(ILogger logger, StatusCode status, Exception? exception);

    [LoggerMessage(4010, LogLevel.Warning, "{Service} is unreachable ({Status}); API calls needing it get 503 until it answers")]
    public static partial void DependencyDown(ILogger logger, string service, StatusCode status, Exception exception);

    [LoggerMessage(4011, LogLevel.Information, "{Service} answers again")]
    public static partial void DependencyUp(ILogger logger, string service);

    [LoggerMessage(4012, LogLevel.Warning, "Refused to call the upstream of API {ApiId}: {Host} resolves only to addresses that are not allowed ({Addresses}); answered 502")]
    public static partial void UpstreamAddressRefused(ILogger logger, string apiId, string host, string addresses);

    [LoggerMessage(4020, LogLevel.Information, "{Service} change stream connected at revision {Revision}; cached auth answers are dropped as changes arrive")]
    public static partial void AuthWatchConnected(ILogger logger, string service, long revision);

    [LoggerMessage(4021, LogLevel.Warning, "{Service} change stream lost ({Status}); revocations and cancellations now take up to the {CacheTtl} cache TTL until it reconnects")]
    public static partial void AuthWatchLost(ILogger logger, string service, StatusCode status, TimeSpan cacheTtl, Exception? exception);

    [LoggerMessage(4022, LogLevel.Warning, "{Service} change stream unavailable ({Status}); revocations and cancellations take up to the {CacheTtl} cache TTL until it connects")]
    public static partial void AuthWatchUnavailableAtStart(ILogger logger, string service, StatusCode status, TimeSpan cacheTtl, Exception? exception);

    [LoggerMessage(4023, LogLevel.Debug, "{Service} change stream still down ({Status}); next try in {Delay}")]
    public static partial void AuthWatchRetry(ILogger logger, string service, StatusCode status, TimeSpan delay);

    [LoggerMessage(4900, LogLevel.Debug, "Refused a call to API {ApiId} for its lifecycle ({Status}): suspended, or deleted and past its sunset")]
    public static partial void LifecycleRefused(ILogger logger, string apiId, int status);
}
