using Grpc.Core;

namespace Veil.Subscriptions;

/// <summary>The subscriptions service's log messages (EventIds 3000–3999).</summary>
internal static partial class SubscriptionsLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Plan {PlanId} ({PlanName}) created on API {ApiId} by {AccountId}")]
    public static partial void PlanCreated(ILogger logger, string planId, string planName, string apiId, string accountId);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Subscription {SubscriptionId}: {ConsumerId} subscribed to plan {PlanId} of API {ApiId}")]
    public static partial void Subscribed(ILogger logger, string subscriptionId, string consumerId, string planId, string apiId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Subscription {SubscriptionId}: {ConsumerId} resumed plan {PlanId} of API {ApiId} within its cycle")]
    public static partial void Resumed(ILogger logger, string subscriptionId, string consumerId, string planId, string apiId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Subscription {SubscriptionId} cancelled by {AccountId}")]
    public static partial void Canceled(ILogger logger, string subscriptionId, string accountId);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Paid subscription refused: account {AccountId} is on credit hold")]
    public static partial void RefusedOnCreditHold(ILogger logger, string accountId);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Catalog did not answer {Method} ({StatusCode})")]
    public static partial void CatalogUnavailable(ILogger logger, string method, StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Billing did not answer CheckCreditHold ({StatusCode}); the paid subscription was refused")]
    public static partial void BillingUnavailable(ILogger logger, StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "services:billing:grpc:0 is not configured: credit holds are not enforced and accounts on hold can subscribe to paid plans")]
    public static partial void CreditHoldsNotEnforced(ILogger logger);

    [LoggerMessage(EventId = 3200, Level = LogLevel.Information, Message = "Plan {PlanId} changed to version {Version} by {AccountId}; {Notices} subscriber notices queued")]
    public static partial void PlanUpdated(ILogger logger, string planId, long version, string accountId, int notices);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Plan {PlanId} archived by {AccountId}")]
    public static partial void PlanArchived(ILogger logger, string planId, string accountId);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "Plan {PlanId} deleted by {AccountId}")]
    public static partial void PlanDeleted(ILogger logger, string planId, string accountId);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Debug, Message = "{Count} plan.changed notices handed to usage ({Queued} queued for a webhook)")]
    public static partial void PlanNoticesSent(ILogger logger, int count, int queued);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Warning, Message = "Usage did not answer NotifyConsumers ({StatusCode}); plan.changed notices stay queued and are retried. Logged once per outage")]
    public static partial void PlanNoticesUnavailable(ILogger logger, StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 3205, Level = LogLevel.Information, Message = "Usage answered NotifyConsumers again after {FailedPasses} failed passes")]
    public static partial void PlanNoticesBack(ILogger logger, int failedPasses);

    [LoggerMessage(EventId = 3206, Level = LogLevel.Warning, Message = "services:usage:grpc:0 is not configured: plan.changed notices are queued but not sent")]
    public static partial void PlanNoticesNotSent(ILogger logger);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Subscription change watcher {EdgeId} connected at revision {Revision}")]
    public static partial void WatcherConnected(ILogger logger, string edgeId, long revision);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "Subscription change watcher {EdgeId} disconnected")]
    public static partial void WatcherDisconnected(ILogger logger, string edgeId);

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "API {ApiId} lifecycle stored: state {State} at catalog revision {Revision}")]
    public static partial void ApiLifecycleStored(ILogger logger, string apiId, int state, long revision);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Subscription to API {ApiId} refused: the API is in state {State} (suspended or deleted)")]
    public static partial void RefusedApiLifecycle(ILogger logger, string apiId, int state);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "API {ApiId} reached its sunset {Sunset}: {Count} active subscriptions cancelled as of then")]
    public static partial void CanceledAtSunset(ILogger logger, string apiId, int count, DateTimeOffset sunset);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Error, Message = "Cancelling subscriptions at an API's sunset failed; retrying in a minute")]
    public static partial void SunsetFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "API {ApiId}: {Count} subscribers handed to usage for {Type} webhook notices")]
    public static partial void ApiNoticesSent(ILogger logger, string apiId, string type, int count);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Usage did not take the lifecycle notices of API {ApiId} ({StatusCode}); retrying")]
    public static partial void ApiNoticesRefused(ILogger logger, string apiId, global::Grpc.Core.StatusCode statusCode, Exception exception);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Error, Message = "Sending API lifecycle notices failed; retrying")]
    public static partial void ApiNoticesFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Warning, Message = "services:usage:grpc:0 is not configured: subscribers of deprecated and deleted APIs get no webhook notice")]
    public static partial void ApiNoticesNotSent(ILogger logger);
}
