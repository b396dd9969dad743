using Veil.Edge;
using Veil.Edge.Routing;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The browsable API reference on the edge's public port (docs/edge.md, "API reference"):
/// <c>GET /openapi/veil.json</c> (the merged document) and Swagger UI at <c>/docs</c>, its assets
/// served from the edge itself (embedded in Swashbuckle.AspNetCore.SwaggerUI; no CDN).
/// </summary>
internal static class ApiReferenceExtensions
{
    /// <summary>Path of the merged document.</summary>
    public const string DocumentPath = "/openapi/veil.json";

    /// <summary>Path of the reference page.</summary>
    public const string PagePath = "/docs";

    /// <summary>
    /// The page's policy: scripts, styles and the document from the edge only (Swagger UI sets
    /// inline styles and draws data: images); never framed, no forms, no base override.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public static IServiceCollection AddApiReference(this IServiceCollection services)
    {
        services.AddSingleton<ApiReference>();
        services.AddHttpClient(ApiReference.HttpClientName);
        return services;
    }

    public static WebApplication MapApiReference(this WebApplication app)
    {
        app.UseWhen(context => context.Request.Path.StartsWithSegments(PagePath), page => page.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            return next(context);
        }));
        app.UseSwaggerUI(ui =>
        {
            ui.RoutePrefix = PagePath.TrimStart('/');
            ui.DocumentTitle = "Veil API reference";
            ui.SwaggerEndpoint(DocumentPath, "Veil API (all services)");
            foreach (var service in ManagementRoutes.ServiceNames)
            {
                ui.SwaggerEndpoint($"/openapi/{service}.json", service);
            }
        });
        app.MapMethods(DocumentPath, ["GET", "HEAD"], static async context =>
        {
            var json = await context.RequestServices.GetRequiredService<ApiReference>().DocumentAsync(context.RequestAborted);
            context.Response.ContentType = "application/json; charset=utf-8";
            context.Response.ContentLength = json.Length;
            if (!HttpMethods.IsHead(context.Request.Method))
            {
                await context.Response.Body.WriteAsync(json, context.RequestAborted);
            }
        });
        return app;
    }
}
