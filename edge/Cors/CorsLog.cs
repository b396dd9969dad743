namespace Veil.Edge.Cors;

/// <summary>Log messages of the edge's CORS step (EventIds 4850–4899).</summary>
internal static partial class CorsLog
{
    [LoggerMessage(4850, LogLevel.Information, "Management CORS on for {Count} origins")]
    public static partial void ManagementCorsOn(ILogger logger, int count);

    [LoggerMessage(4851, LogLevel.Debug, "Preflight from an origin the policy does not allow, answered without CORS headers (API {ApiId})")]
    public static partial void PreflightOriginNotAllowed(ILogger logger, string apiId);
}
