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

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Gateway config watcher {EdgeId} connected")]
    public static partial void WatcherConnected(ILogger logger, string edgeId);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Gateway config watcher {EdgeId} disconnected after revision {Revision}")]
    public static partial void WatcherDisconnected(ILogger logger, string edgeId, long revision);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Debug, Message = "Sent gateway config revision {Revision} ({Routes} routes) to {EdgeId}")]
    public static partial void ConfigSent(ILogger logger, string edgeId, long revision, int routes);

    [LoggerMessage(EventId = 2200, Level = LogLevel.Information, Message = "API {ApiId} imported from an OpenAPI {OpenApiVersion} document as version {Version} by {AccountId}")]
    public static partial void ApiImported(ILogger logger, string apiId, string openApiVersion, long version, string accountId);

    [LoggerMessage(EventId = 2210, Level = LogLevel.Information, Message = "History of API {ApiId} exported to bucket {Bucket} up to version {Version}: {Written} objects written, by {AccountId}")]
    public static partial void HistoryExported(ILogger logger, string apiId, string bucket, long version, int written, string accountId);

    [LoggerMessage(EventId = 2211, Level = LogLevel.Warning, Message = "History export under {Prefix} failed")]
    public static partial void ExportFailed(ILogger logger, string prefix, Exception exception);

    [LoggerMessage(EventId = 2212, Level = LogLevel.Warning, Message = "Automatic history export failed; trying again in {Retry}")]
    public static partial void AutomaticExportFailed(ILogger logger, TimeSpan retry, Exception exception);
}
