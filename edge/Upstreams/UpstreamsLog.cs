namespace Veil.Edge.Upstreams;

/// <summary>Log messages of the edge's upstream step: targets, balancing, health (EventIds 4700–4749).</summary>
internal static partial class UpstreamsLog
{
    [LoggerMessage(4700, LogLevel.Warning, "API {ApiId}: target {Target} is unhealthy after {Failures} failed probes in a row (last: {LastResult}); it leaves rotation on this edge")]
    public static partial void TargetUnhealthy(ILogger logger, string apiId, string target, int failures, string lastResult);

    [LoggerMessage(4701, LogLevel.Information, "API {ApiId}: target {Target} is healthy again after {Successes} successful probes in a row; it returns to rotation")]
    public static partial void TargetHealthy(ILogger logger, string apiId, string target, int successes);

    [LoggerMessage(4702, LogLevel.Warning, "API {ApiId}: no healthy target; calls get 503 with Retry-After {RetryAfterSeconds} s")]
    public static partial void NoHealthyTarget(ILogger logger, string apiId, int retryAfterSeconds);
}
