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

    [LoggerMessage(EventId = 2400, Level = LogLevel.Warning, Message = "A gateway config watcher sent no first report (its edge_id) within {Timeout}; its stream is ended")]
    public static partial void WatcherSilent(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Debug, Message = "Edge {EdgeId} serves revision {Revision} ({Routes} route versions reported, full: {Full})")]
    public static partial void EdgeReported(ILogger logger, string edgeId, long revision, int routes, bool full);
}
