using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Veil.ServiceDefaults.Security;

namespace Veil.Edge.Calls;

/// <summary>
/// A CORS policy as the CORS step applies it (docs/cors.md): ASP.NET Core's
/// <see cref="Microsoft.AspNetCore.Cors.Infrastructure.CorsPolicy"/>, built once per config apply
/// for an API (routing, from catalog's <c>policies.cors</c>) or once at start for the management
/// API (from <c>Edge:ManagementCors</c>), never per request. Exact origins are a set; patterns
/// (<c>https://*.example.com</c>) match one DNS label (<see cref="CorsRules.MatchesPattern"/>).
/// </summary>
internal sealed class ApiCors
{
    private readonly HashSet<string> _origins;
    private readonly string[] _patterns;

    private ApiCors(HashSet<string> origins, string[] patterns, CorsPolicy policy)
    {
        _origins = origins;
        _patterns = patterns;
        Policy = policy;
    }

    /// <summary>The policy ASP.NET Core's <see cref="ICorsService"/> evaluates.</summary>
    public CorsPolicy Policy { get; }

    /// <summary>The policy of an API's <c>policies.cors</c>, or null when it has none (no origins: CORS off); false with a problem when the edge cannot apply it.</summary>
    public static bool TryCreate(Veil.Catalog.V1.CorsPolicy? cors, out ApiCors? policy, [NotNullWhen(false)] out string? problem)
    {
        policy = null;
        if (cors is null || cors.AllowedOrigins.Count == 0)
        {
            problem = null;
            return true;
        }
        return TryCreate(cors.AllowedOrigins,
            cors.AllowedMethods.Count > 0 ? cors.AllowedMethods : CorsRules.DefaultMethods,
            cors.AllowedHeaders.Count > 0 ? cors.AllowedHeaders : CorsRules.DefaultHeaders,
            cors.ExposedHeaders,
            cors.HasMaxAgeSeconds ? cors.MaxAgeSeconds : CorsRules.DefaultMaxAgeSeconds,
            cors.AllowCredentials, out policy, out problem);
    }

    /// <summary>
    /// A policy from its parts, checked again with <see cref="CorsRules"/> (a config the edge cannot
    /// apply must not be served half-applied).
    /// </summary>
    public static bool TryCreate(IReadOnlyList<string> origins, IReadOnlyList<string> methods, IReadOnlyList<string> headers,
        IReadOnlyList<string> exposedHeaders, int maxAgeSeconds, bool allowCredentials,
        [NotNullWhen(true)] out ApiCors? policy, [NotNullWhen(false)] out string? problem)
    {
        policy = null;
        var any = origins is [CorsRules.AnyOrigin];
        if (origins.Count is 0 or > CorsRules.MaxOrigins || (any && allowCredentials) ||
            (!any && origins.Any(o => CorsRules.OriginProblem(o) is not null || (allowCredentials && CorsRules.IsPattern(o)))))
        {
            problem = "the CORS origins are not 1 to 32 https origins or patterns (or \"*\" alone, without credentials)";
            return false;
        }
        if (methods.Any(m => !CorsRules.Methods.Contains(m, StringComparer.Ordinal)) ||
            headers.Count > CorsRules.MaxHeaders || exposedHeaders.Count > CorsRules.MaxHeaders ||
            headers.Concat(exposedHeaders).Any(h => !CorsRules.IsHeaderName(h)) ||
            (allowCredentials && headers.Concat(exposedHeaders).Contains("*")) ||
            maxAgeSeconds is < 0 or > CorsRules.MaxAgeSecondsLimit)
        {
            problem = "the CORS methods, headers or max age are invalid";
            return false;
        }

        var exact = new HashSet<string>(origins.Where(o => !CorsRules.IsPattern(o)), StringComparer.OrdinalIgnoreCase);
        var patterns = origins.Where(CorsRules.IsPattern).ToArray();
        var builder = new CorsPolicyBuilder()
            .WithMethods([.. methods])
            .WithHeaders([.. headers])
            .WithExposedHeaders([.. exposedHeaders])
            .SetPreflightMaxAge(TimeSpan.FromSeconds(maxAgeSeconds));
        if (any)
        {
            builder.AllowAnyOrigin();
        }
        ApiCors? created = null;
        if (!any)
        {
            // The predicate reads the set and patterns made here, once.
            builder.SetIsOriginAllowed(origin => created!.IsAllowed(origin));
        }
        if (allowCredentials)
        {
            builder.AllowCredentials();
        }
        created = new ApiCors(exact, patterns, builder.Build());
        policy = created;
        problem = null;
        return true;
    }

    private bool IsAllowed(string origin)
    {
        if (_origins.Contains(origin))
        {
            return true;
        }
        foreach (var pattern in _patterns)
        {
            if (CorsRules.MatchesPattern(origin, pattern))
            {
                return true;
            }
        }
        return false;
    }
}
