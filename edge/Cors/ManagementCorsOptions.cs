using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Cors;

/// <summary>
/// CORS for the management API (<c>/v1/*</c>, <c>/openapi/*</c>, <c>/.well-known/*</c>), bound from
/// <c>Edge:ManagementCors</c> and validated at start (docs/cors.md). Off while
/// <see cref="AllowedOrigins"/> is empty. Lists left empty take the defaults (a configuration
/// array would otherwise be appended to a default one, not replace it).
/// </summary>
public sealed class ManagementCorsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Edge:ManagementCors";

    /// <summary>The methods allowed when <see cref="AllowedMethods"/> is empty.</summary>
    public static readonly IReadOnlyList<string> DefaultMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

    /// <summary>The request headers allowed when <see cref="AllowedHeaders"/> is empty.</summary>
    public static readonly IReadOnlyList<string> DefaultHeaders = ["Authorization", "Content-Type"];

    /// <summary>
    /// Origins allowed to call the management API from a browser (e.g. the portal's): https
    /// origins, exact or a one-label pattern (<c>https://*.example.com</c>), or
    /// <c>http://localhost[:port]</c> for development; never <c>*</c>. Empty: management CORS off.
    /// </summary>
    [MaxLength(CorsRules.MaxOrigins)]
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Allowed methods; empty means GET, HEAD, POST, PUT, PATCH, DELETE.</summary>
    public string[] AllowedMethods { get; set; } = [];

    /// <summary>Allowed request headers; empty means Authorization and Content-Type.</summary>
    [MaxLength(CorsRules.MaxHeaders)]
    public string[] AllowedHeaders { get; set; } = [];

    /// <summary>Response headers the browser may read beyond the safelisted ones; empty means none.</summary>
    [MaxLength(CorsRules.MaxHeaders)]
    public string[] ExposedHeaders { get; set; } = [];

    /// <summary>How long a browser may cache a preflight answer, in seconds.</summary>
    [Range(0, CorsRules.MaxAgeSecondsLimit)]
    public int MaxAgeSeconds { get; set; } = CorsRules.DefaultMaxAgeSeconds;
}

/// <summary>The origin, method and header rules of <see cref="ManagementCorsOptions"/> (<see cref="CorsRules"/>), checked at start.</summary>
internal sealed class ManagementCorsOptionsValidator : IValidateOptions<ManagementCorsOptions>
{
    public ValidateOptionsResult Validate(string? name, ManagementCorsOptions options)
    {
        var failures = new List<string>();
        foreach (var origin in options.AllowedOrigins)
        {
            if (origin == CorsRules.AnyOrigin)
            {
                failures.Add($"{ManagementCorsOptions.SectionName}:AllowedOrigins: \"*\" is not allowed for the management API: list the portal's origins.");
            }
            else if (CorsRules.OriginProblem(origin) is { } problem)
            {
                failures.Add($"{ManagementCorsOptions.SectionName}:AllowedOrigins: {problem}");
            }
        }
        foreach (var method in options.AllowedMethods.Where(m => !CorsRules.Methods.Contains(m, StringComparer.Ordinal)))
        {
            failures.Add($"{ManagementCorsOptions.SectionName}:AllowedMethods: '{method}' is not one of {string.Join(", ", CorsRules.Methods)}.");
        }
        foreach (var header in options.AllowedHeaders.Concat(options.ExposedHeaders).Where(h => !CorsRules.IsHeaderName(h)))
        {
            failures.Add($"{ManagementCorsOptions.SectionName}: '{header}' is not a header name (an HTTP token).");
        }
        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
