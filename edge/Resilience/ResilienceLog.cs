namespace Veil.Edge.Resilience;

/// <summary>Log messages of the edge's resilience step (EventIds 4750–4799): each breaker transition once.</summary>
internal static partial class ResilienceLog
{
    [LoggerMessage(4750, LogLevel.Warning, "Circuit opened for API {ApiId} target {Target}: {Failures} of {Requests} attempts failed in the window; calls to it stop for {OpenForMs} ms")]
    public static partial void CircuitOpened(ILogger logger, string apiId, string target, int failures, int requests, long openForMs);

    [LoggerMessage(4751, LogLevel.Warning, "Circuit reopened for API {ApiId} target {Target}: a half-open probe failed; calls to it stop for {OpenForMs} ms (opening {Opening} in a row)")]
    public static partial void CircuitReopened(ILogger logger, string apiId, string target, long openForMs, int opening);

    [LoggerMessage(4752, LogLevel.Information, "Circuit half-open for API {ApiId} target {Target}: letting probe calls through")]
    public static partial void CircuitHalfOpen(ILogger logger, string apiId, string target);

    [LoggerMessage(4753, LogLevel.Information, "Circuit closed for API {ApiId} target {Target}: {Probes} probe calls succeeded")]
    public static partial void CircuitClosed(ILogger logger, string apiId, string target, int probes);

    [LoggerMessage(4754, LogLevel.Debug, "Retrying a call to API {ApiId}: attempt {Attempt} failed on target {Target} before any response byte")]
    public static partial void Retrying(ILogger logger, string apiId, int attempt, string target);
}
