namespace Veil.Catalog;

/// <summary>The catalog's log messages (EventIds 2000–2999).</summary>
internal static partial class CatalogLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "API {ApiId} ({Slug}) created by {AccountId}; gateway revision {Revision}")]
    public static partial void ApiCreated(ILogger logger, string apiId, string slug, string accountId, long revision);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "API {ApiId} moved to version {Version} by {AccountId}; gateway revision {Revision}")]
    public static partial void ApiUpdated(ILogger logger, string apiId, long version, string accountId, long revision);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Upstream of API {ApiId} rejected: {Reason}")]
    public static partial void UpstreamRejected(ILogger logger, string apiId, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Signing secret of API {ApiId} rotated by {AccountId} (version {Version}); the previous one is sent until {OverlapEnd}")]
    public static partial void SigningSecretRotated(ILogger logger, string apiId, string accountId, long version, DateTimeOffset overlapEnd);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "A signing-secret overlap ended; gateway revision {Revision} drops the previous secret")]
    public static partial void SigningOverlapEnded(ILogger logger, long revision);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Could not publish the end of a signing-secret overlap; retrying in a minute")]
    public static partial void SigningOverlapFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "API {ApiId} rolled back to the configuration of version {RestoredVersion} as version {Version} by {AccountId}, revision {Revision}")]
    public static partial void ApiRolledBack(ILogger logger, string apiId, long restoredVersion, long version, string accountId, long revision);

    [LoggerMessage(EventId = 2300, Level = LogLevel.Information, Message = "API {ApiId} release {Release} created as version {Version} by {AccountId}; gateway revision {Revision}")]
    public static partial void ReleaseCreated(ILogger logger, string apiId, string release, long version, string accountId, long revision);

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "API {ApiId} release {Release} changed as version {Version} by {AccountId}; gateway revision {Revision}")]
    public static partial void ReleaseUpdated(ILogger logger, string apiId, string release, long version, string accountId, long revision);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Information, Message = "API {ApiId} release {Release} deprecated as version {Version} by {AccountId}; gateway revision {Revision}")]
    public static partial void ReleaseDeprecated(ILogger logger, string apiId, string release, long version, string accountId, long revision);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Gateway config watcher {EdgeId} connected")]
    public static partial void WatcherConnected(ILogger logger, string edgeId);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Gateway config watcher {EdgeId} disconnected after revision {Revision}")]
    public static partial void WatcherDisconnected(ILogger logger, string edgeId, long revision);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Debug, Message = "Sent gateway config revision {Revision} ({Routes} routes) to {EdgeId}")]
    public static partial void ConfigSent(ILogger logger, string edgeId, long revision, int routes);

    [LoggerMessage(EventId = 2400, Level = LogLevel.Warning, Message = "A gateway config watcher sent no first report (its edge_id) within {Timeout}; its stream is ended")]
    public static partial void WatcherSilent(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Debug, Message = "Edge {EdgeId} serves revision {Revision} ({Routes} route versions reported, full: {Full})")]
    public static partial void EdgeReported(ILogger logger, string edgeId, long revision, int routes, bool full);

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "API {ApiId} suspended by {AccountId}; gateway revision {Revision}")]
    public static partial void ApiSuspended(ILogger logger, string apiId, string accountId, long revision);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "API {ApiId} resumed by {AccountId} ({State}); gateway revision {Revision}")]
    public static partial void ApiResumed(ILogger logger, string apiId, string accountId, string state, long revision);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "API {ApiId} deprecated by {AccountId}, sunset {Sunset}; gateway revision {Revision}")]
    public static partial void ApiDeprecated(ILogger logger, string apiId, string accountId, DateTimeOffset? sunset, long revision);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "API {ApiId} deleted by {AccountId}: calls stop and subscriptions end at {Sunset}; gateway revision {Revision}")]
    public static partial void ApiDeleted(ILogger logger, string apiId, string accountId, DateTimeOffset sunset, long revision);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning, Message = "Subscriptions did not take the lifecycle of API {ApiId} at revision {Revision} ({Status}); retrying in the background")]
    public static partial void LifecyclePushFailed(ILogger logger, string apiId, long revision, global::Grpc.Core.StatusCode status, Exception exception);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Debug, Message = "Subscriptions has the lifecycle of API {ApiId} at revision {Revision}")]
    public static partial void LifecyclePushed(ILogger logger, string apiId, long revision);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "services:subscriptions:grpc:0 is not configured: API lifecycle changes are not pushed to subscriptions, so suspended and deleted APIs still accept new subscriptions and are not cancelled at their sunset")]
    public static partial void LifecycleSyncDisabled(ILogger logger);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Error, Message = "Could not push API lifecycle changes to subscriptions; retrying")]
    public static partial void LifecycleSyncFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2200, Level = LogLevel.Information, Message = "API {ApiId} imported from an OpenAPI {OpenApiVersion} document as version {Version} by {AccountId}")]
    public static partial void ApiImported(ILogger logger, string apiId, string openApiVersion, long version, string accountId);

    [LoggerMessage(EventId = 2210, Level = LogLevel.Information, Message = "History of API {ApiId} exported to bucket {Bucket} up to version {Version}: {Written} objects written, by {AccountId}")]
    public static partial void HistoryExported(ILogger logger, string apiId, string bucket, long version, int written, string accountId);

    [LoggerMessage(EventId = 2211, Level = LogLevel.Warning, Message = "History export under {Prefix} failed")]
    public static partial void ExportFailed(ILogger logger, string prefix, Exception exception);

    [LoggerMessage(EventId = 2212, Level = LogLevel.Warning, Message = "Automatic history export failed; trying again in {Retry}")]
    public static partial void AutomaticExportFailed(ILogger logger, TimeSpan retry, Exception exception);
}
