using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// REST creates answer <c>201 Created</c> with a <c>Location</c>. JSON transcoding always sets 200
/// just before it writes a success body, so the status and header are set as the response starts
/// (<see cref="HttpResponse.OnStarting(Func{Task})"/>), for the response types a service registered
/// with <see cref="CreatedResourcesExtensions.AddCreatedLocation{TResponse}"/>. gRPC calls are not
/// touched.
/// </summary>
public static class CreatedResources
{
    /// <summary>Marks <paramref name="response"/> as a create when its type has a location; returns it unchanged.</summary>
    internal static TResponse Answer<TResponse>(HttpContext http, TResponse response, IServiceProvider services)
    {
        if (response is not null && HttpMethods.IsPost(http.Request.Method) &&
            http.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) != true &&
            services.GetService<CreatedLocation<TResponse>>() is { } created && created.Of(response) is { } location)
        {
            http.Response.OnStarting(static state =>
            {
                var (response, location) = ((HttpResponse, string))state;
                if (response.StatusCode == StatusCodes.Status200OK)
                {
                    response.StatusCode = StatusCodes.Status201Created;
                    if (location.Length > 0)
                    {
                        response.Headers.Location = location;
                    }
                }
                return Task.CompletedTask;
            }, (http.Response, location));
        }
        return response;
    }
}

/// <summary>Where the resource a <typeparamref name="TResponse"/> describes lives (its REST path).</summary>
public sealed class CreatedLocation<TResponse>(Func<TResponse, string?> of)
{
    /// <summary>
    /// The path of the created resource; empty when it has no read of its own (201 without
    /// <c>Location</c>); null when this answer created nothing (200, e.g. a resumed subscription).
    /// </summary>
    public string? Of(TResponse response) => of(response);
}

/// <summary>Registration of create responses.</summary>
public static class CreatedResourcesExtensions
{
    /// <summary>
    /// REST POSTs answering <typeparamref name="TResponse"/> created a resource at
    /// <paramref name="location"/> (e.g. <c>r =&gt; $"/v1/apis/{r.Api.Id}"</c>): they answer 201 with that
    /// <c>Location</c> instead of 200. <paramref name="location"/> answers "" for a resource with no
    /// read of its own (201 without <c>Location</c>) and null when the answer created nothing (200).
    /// </summary>
    public static IServiceCollection AddCreatedLocation<TResponse>(this IServiceCollection services, Func<TResponse, string?> location) =>
        services.AddSingleton(new CreatedLocation<TResponse>(location));
}
