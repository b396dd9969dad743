namespace Veil.Usage;

/// <summary>
/// Usage's log events (EventIds 6000–6999). Ids and counts only: never a webhook URL (it may
/// carry a token), a secret, a key or a route.
/// </summary>
internal static partial class UsageLog
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Debug, Message = "Ingested a batch of {Count} events: {Accepted} accepted, {Duplicates} duplicates, {Quarantined} quarantined in {ElapsedMs} ms")]
    public static partial void BatchIngested(ILogger logger, int count, int accepted, int duplicates, int quarantined, double elapsedMs);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Quarantined {Count} events ({OutsideWindow} outside the dedup window, {Future} in the future, {Invalid} invalid; {Billable} of them billable); they are not counted")]
    public static partial void EventsQuarantined(ILogger logger, int count, int outsideWindow, int future, int invalid, int billable);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Rejected an ingest batch of {Count} events: more than {Max}")]
    public static partial void BatchTooLarge(ILogger logger, int count, int max);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Error, Message = "Rolling up events failed; retrying")]
    public static partial void RollupFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Quota states revision {Revision}: {Count} hard-capped subscription(s) exhausted")]
    public static partial void QuotaStatesChanged(ILogger logger, long revision, int count);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Edge {EdgeId} is watching quota states")]
    public static partial void QuotaWatcherConnected(ILogger logger, string edgeId);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Information, Message = "Edge {EdgeId} stopped watching quota states")]
    public static partial void QuotaWatcherDisconnected(ILogger logger, string edgeId);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Error, Message = "Recomputing the quota states failed; retrying")]
    public static partial void QuotaRefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Information, Message = "Notification {NotificationId} delivered on attempt {Attempt} (HTTP {StatusCode})")]
    public static partial void WebhookDelivered(ILogger logger, string notificationId, int attempt, int statusCode);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Warning, Message = "Notification {NotificationId} attempt {Attempt} failed (HTTP {StatusCode}: {Error}); next attempt in {Delay}")]
    public static partial void WebhookAttemptFailed(ILogger logger, string notificationId, int attempt, int statusCode, string error, TimeSpan delay);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Error, Message = "Notification {NotificationId} failed {Attempt} times; giving up")]
    public static partial void WebhookGaveUp(ILogger logger, string notificationId, int attempt);

    [LoggerMessage(EventId = 6023, Level = LogLevel.Information, Message = "Notification {NotificationId} not delivered: consumer {ConsumerId} has no webhook")]
    public static partial void WebhookMissing(ILogger logger, string notificationId, string consumerId);

    [LoggerMessage(EventId = 6024, Level = LogLevel.Information, Message = "Consumer {ConsumerId} set a webhook")]
    public static partial void WebhookSet(ILogger logger, string consumerId);

    [LoggerMessage(EventId = 6025, Level = LogLevel.Information, Message = "Consumer {ConsumerId} deleted its webhook")]
    public static partial void WebhookDeleted(ILogger logger, string consumerId);

    [LoggerMessage(EventId = 6026, Level = LogLevel.Error, Message = "The webhook dispatcher failed; retrying")]
    public static partial void DispatcherFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 6027, Level = LogLevel.Error, Message = "The secret of consumer {ConsumerId}'s webhook cannot be decrypted (key-encryption key lost? see Veil:Secrets); the consumer must set the webhook again")]
    public static partial void WebhookSecretUnreadable(ILogger logger, string consumerId, Exception exception);

    [LoggerMessage(EventId = 6040, Level = LogLevel.Information,
        Message = "Retention deleted {Events} raw events, {Quarantined} quarantined events and {Calls} call-log rows in {ElapsedMs} ms")]
    public static partial void RetentionCompleted(ILogger logger, long events, long quarantined, long calls, double elapsedMs);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Error, Message = "Retention run failed; the next run starts in {Interval}")]
    public static partial void RetentionFailed(ILogger logger, TimeSpan interval, Exception exception);

    [LoggerMessage(EventId = 6042, Level = LogLevel.Warning, Message = "Retention is disabled (Usage:Retention:Enabled): raw events, quarantined events and call-log rows are kept forever")]
    public static partial void RetentionDisabled(ILogger logger);

    [LoggerMessage(EventId = 6028, Level = LogLevel.Warning, Message = "Sealed {Count} webhook secret(s) with key-encryption key {KekId} (they were protected by the old data-protection key ring or an earlier key)")]
    public static partial void WebhookSecretsResealed(ILogger logger, int count, string kekId);

    [LoggerMessage(EventId = 6029, Level = LogLevel.Error, Message = "The old-format secret of consumer {ConsumerId}'s webhook cannot be read (key ring {KeyRing} missing or incomplete); it is left as is and the consumer must set the webhook again")]
    public static partial void LegacyWebhookSecretUnreadable(ILogger logger, string consumerId, string keyRing, Exception? exception);

    [LoggerMessage(EventId = 6050, Level = LogLevel.Information, Message = "Queued {Count} API key expiry notice(s) for keys expiring by {ExpireBefore:o}")]
    public static partial void KeyExpiryNoticesQueued(ILogger logger, int count, DateTimeOffset expireBefore);

    [LoggerMessage(EventId = 6051, Level = LogLevel.Warning, Message = "Asking identity for expiring API keys failed ({Error}); the next pass starts in {Interval}")]
    public static partial void KeyExpiryPassFailed(ILogger logger, string error, TimeSpan interval, Exception exception);

    [LoggerMessage(EventId = 6052, Level = LogLevel.Information, Message = "API key expiry notices are disabled (Usage:KeyExpiryNotices:Enabled)")]
    public static partial void KeyExpiryNoticesDisabled(ILogger logger);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Information, Message = "Subscription {SubscriptionId} reached {Percent}% of its quota in the cycle starting {CycleStart:o}")]
    public static partial void ThresholdReached(ILogger logger, string subscriptionId, int percent, DateTimeOffset cycleStart);

    [LoggerMessage(EventId = 6100, Level = LogLevel.Information, Message = "Queued {Queued} of {Count} consumer notice(s) of type(s) {Types}")]
    public static partial void ConsumerNoticesQueued(ILogger logger, int queued, int count, string types);
}
