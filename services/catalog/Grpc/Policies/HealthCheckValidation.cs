using System.Globalization;
using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    public const int MaxHealthCheckPathLength = 512;
    public const int MinHealthCheckIntervalMs = 1000;
    public const int MaxHealthCheckIntervalMs = 300_000;
    public const int DefaultHealthCheckIntervalMs = 10_000;
    public const int MinHealthCheckTimeoutMs = 100;
    public const int MaxHealthCheckTimeoutMs = 60_000;
    public const int DefaultHealthCheckTimeoutMs = 2000;
    public const int MaxHealthCheckThreshold = 10;

    /// <summary>
    /// policies.health_check (docs/load-balancing-and-health.md): a path of URL path characters
    /// starting with "/" (required once any other field is set), an interval of 1 to 300 s, a
    /// timeout of 100 ms to 60 s below the interval (each 0 for its default), thresholds of 1 to 10.
    /// </summary>
    public static void HealthCheck(FieldViolations errors, HealthCheckPolicy health, string field)
    {
        if (health.Path.Length == 0)
        {
            if (health.IntervalMs != 0 || health.TimeoutMs != 0 || health.HealthyThreshold != 0 || health.UnhealthyThreshold != 0)
            {
                errors.Add(field + ".path", "Required with the other health check fields: the path the edge probes on each target, e.g. \"/health\" (send \"healthCheck\": {} to turn checks off).");
            }
        }
        else if (HealthCheckPathProblem(health.Path) is { } problem)
        {
            errors.Add(field + ".path", problem);
        }

        var intervalOk = health.IntervalMs == 0 || health.IntervalMs is >= MinHealthCheckIntervalMs and <= MaxHealthCheckIntervalMs;
        if (!intervalOk)
        {
            errors.Add(field + ".interval_ms", $"Must be {MinHealthCheckIntervalMs} to {MaxHealthCheckIntervalMs} milliseconds (0 means {DefaultHealthCheckIntervalMs}).");
        }
        if (health.TimeoutMs != 0 && health.TimeoutMs is < MinHealthCheckTimeoutMs or > MaxHealthCheckTimeoutMs)
        {
            errors.Add(field + ".timeout_ms", $"Must be {MinHealthCheckTimeoutMs} to {MaxHealthCheckTimeoutMs} milliseconds (0 means {DefaultHealthCheckTimeoutMs}).");
        }
        else if (intervalOk)
        {
            // A probe must end before the next one starts: compare the values the edge will use.
            var interval = health.IntervalMs == 0 ? DefaultHealthCheckIntervalMs : health.IntervalMs;
            var timeout = health.TimeoutMs == 0 ? DefaultHealthCheckTimeoutMs : health.TimeoutMs;
            if (timeout >= interval)
            {
                errors.Add(field + ".timeout_ms", string.Create(CultureInfo.InvariantCulture,
                    $"Must be less than the interval ({interval} ms); the timeout in effect is {timeout} ms."));
            }
        }
        if (health.HealthyThreshold is < 0 or > MaxHealthCheckThreshold)
        {
            errors.Add(field + ".healthy_threshold", $"Must be 1 to {MaxHealthCheckThreshold} consecutive healthy probes (0 means 2).");
        }
        if (health.UnhealthyThreshold is < 0 or > MaxHealthCheckThreshold)
        {
            errors.Add(field + ".unhealthy_threshold", $"Must be 1 to {MaxHealthCheckThreshold} consecutive failed probes (0 means 3).");
        }
    }

    /// <summary>
    /// Null when <paramref name="path"/> is a URL path the edge can append to each target's URL as
    /// it is: "/" first, RFC 3986 path characters only (percent-escapes well formed), no query or fragment.
    /// </summary>
    private static string? HealthCheckPathProblem(string path)
    {
        if (path.Length > MaxHealthCheckPathLength)
        {
            return $"At most {MaxHealthCheckPathLength} characters.";
        }
        if (path[0] != '/')
        {
            return "Must start with \"/\", e.g. \"/health\": it is appended to each target's URL.";
        }
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (c == '%')
            {
                if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                {
                    return "A '%' must start a percent-escape of two hex digits (e.g. %20).";
                }
                i += 2;
            }
            else if (c is '?' or '#')
            {
                return "A path only: no query ('?') or fragment ('#').";
            }
            else if (!char.IsAsciiLetterOrDigit(c) && "/-._~!$&'()*+,;=:@".IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return "Use URL path characters only (letters, digits, / - . _ ~ ! $ & ' ( ) * + , ; = : @ and %-escapes).";
            }
        }
        return null;
    }
}
