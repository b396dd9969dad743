using Veil.Catalog.V1;
using Veil.ServiceDefaults.Grpc;
using Veil.ServiceDefaults.Security;

namespace Veil.Catalog.Grpc;

internal static partial class ApiValidation
{
    /// <summary>
    /// The rules of policies.cors (docs/cors.md, <see cref="CorsRules"/>): 1 to 32 origins, each
    /// https (or http://localhost) without a path, exact or a one-label pattern, or "*" alone;
    /// with allow_credentials only exact origins; methods from the edge's list; header names HTTP
    /// tokens, at most 32 each; max_age_seconds 0 to 86400. An empty part ({}) turns CORS off.
    /// </summary>
    public static void Cors(FieldViolations errors, CorsPolicy cors, string field)
    {
        var origins = cors.AllowedOrigins;
        var originsField = field + ".allowed_origins";
        if (origins.Count == 0)
        {
            if (cors.AllowedMethods.Count > 0 || cors.AllowedHeaders.Count > 0 || cors.ExposedHeaders.Count > 0 || cors.HasMaxAgeSeconds || cors.AllowCredentials)
            {
                errors.Add(originsField, "Required: the origins the policy allows (send an empty cors {} to turn CORS off).");
            }
        }
        else if (origins.Count > CorsRules.MaxOrigins)
        {
            errors.Add(originsField, $"At most {CorsRules.MaxOrigins} origins; use a pattern such as \"https://*.example.com\" for many subdomains.");
        }
        else
        {
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < origins.Count; i++)
            {
                var origin = origins[i];
                var at = $"{originsField}[{i}]";
                if (origin == CorsRules.AnyOrigin)
                {
                    if (origins.Count > 1)
                    {
                        errors.Add(at, "\"*\" allows every origin: list it alone.");
                    }
                    else if (cors.AllowCredentials)
                    {
                        errors.Add(at, "\"*\" cannot be used with allow_credentials: list the origins exactly.");
                    }
                }
                else if (CorsRules.OriginProblem(origin) is { } problem)
                {
                    errors.Add(at, problem);
                }
                else if (cors.AllowCredentials && CorsRules.IsPattern(origin))
                {
                    errors.Add(at, "A pattern cannot be used with allow_credentials: list the origins exactly.");
                }
                else if (!seen.Add(origin))
                {
                    errors.Add(at, $"'{origin}' is listed twice.");
                }
            }
        }

        var methods = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < cors.AllowedMethods.Count; i++)
        {
            var method = cors.AllowedMethods[i];
            if (!CorsRules.Methods.Contains(method, StringComparer.Ordinal))
            {
                errors.Add($"{field}.allowed_methods[{i}]", $"Must be one of {string.Join(", ", CorsRules.Methods)} (upper case).");
            }
            else if (!methods.Add(method))
            {
                errors.Add($"{field}.allowed_methods[{i}]", $"'{method}' is listed twice.");
            }
        }
        CorsHeaders(errors, cors.AllowedHeaders, field + ".allowed_headers", cors.AllowCredentials);
        CorsHeaders(errors, cors.ExposedHeaders, field + ".exposed_headers", cors.AllowCredentials);
        if (cors.HasMaxAgeSeconds && cors.MaxAgeSeconds is < 0 or > CorsRules.MaxAgeSecondsLimit)
        {
            errors.Add(field + ".max_age_seconds", $"Must be 0 to {CorsRules.MaxAgeSecondsLimit} seconds (unset means {CorsRules.DefaultMaxAgeSeconds}).");
        }
    }

    private static void CorsHeaders(FieldViolations errors, IReadOnlyList<string> headers, string field, bool allowCredentials)
    {
        if (headers.Count > CorsRules.MaxHeaders)
        {
            errors.Add(field, $"At most {CorsRules.MaxHeaders} header names.");
            return;
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers[i];
            var at = $"{field}[{i}]";
            if (name == "*")
            {
                if (allowCredentials || headers.Count > 1)
                {
                    errors.Add(at, "\"*\" (every header) must be listed alone and cannot be used with allow_credentials.");
                }
            }
            else if (!CorsRules.IsHeaderName(name))
            {
                errors.Add(at, $"'{name}' is not a header name (an HTTP token of up to 128 characters: letters, digits and !#$%&'*+-.^_`|~).");
            }
            else if (!seen.Add(name))
            {
                errors.Add(at, $"'{name}' is listed twice.");
            }
        }
    }
}
