using Microsoft.Extensions.Options;
using Veil.Edge.Calls;

namespace Veil.Edge.Cors;

/// <summary>The management API's CORS policy, built once at start from <see cref="ManagementCorsOptions"/>; null when off.</summary>
internal sealed class ManagementCors
{
    public ManagementCors(IOptions<ManagementCorsOptions> options, ILogger<ManagementCors> logger)
    {
        var o = options.Value;
        if (o.AllowedOrigins.Length == 0)
        {
            return;
        }
        if (!ApiCors.TryCreate(o.AllowedOrigins,
            o.AllowedMethods.Length > 0 ? o.AllowedMethods : ManagementCorsOptions.DefaultMethods,
            o.AllowedHeaders.Length > 0 ? o.AllowedHeaders : ManagementCorsOptions.DefaultHeaders,
            o.ExposedHeaders, o.MaxAgeSeconds, allowCredentials: false, out var policy, out var problem))
        {
            throw new OptionsValidationException(ManagementCorsOptions.SectionName, typeof(ManagementCorsOptions), [problem]);
        }
        Policy = policy;
        CorsLog.ManagementCorsOn(logger, o.AllowedOrigins.Length);
    }

    /// <summary>The policy, or null when <c>Edge:ManagementCors:AllowedOrigins</c> is empty.</summary>
    public ApiCors? Policy { get; }
}

/// <summary>Composition of the CORS step: ASP.NET Core's CORS service, the management policy, the step.</summary>
internal static class CorsExtensions
{
    /// <summary>Registers <see cref="Microsoft.AspNetCore.Cors.Infrastructure.ICorsService"/>, <c>Edge:ManagementCors</c> (validated at start) and the step's metrics.</summary>
    public static IServiceCollection AddEdgeCors(this IServiceCollection services)
    {
        services.AddCors();
        services.AddOptions<ManagementCorsOptions>().BindConfiguration(ManagementCorsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ManagementCorsOptions>, ManagementCorsOptionsValidator>();
        services.AddSingleton<ManagementCors>();
        services.AddSingleton<CorsMetrics>();
        return services;
    }

    /// <summary>The CORS step: first in the proxy pipeline, so a preflight is answered before any check or metering.</summary>
    public static IApplicationBuilder UseEdgeCors(this IApplicationBuilder pipeline) => pipeline.UseMiddleware<EdgeCorsMiddleware>();
}
