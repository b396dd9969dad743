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
}
