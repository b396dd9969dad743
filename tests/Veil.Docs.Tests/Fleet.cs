using System.Collections;
using System.Reflection;
using Yarp.ReverseProxy.Configuration;

namespace Veil.Docs.Tests;

/// <summary>What the code says the fleet is, for the docs to be checked against.</summary>
internal static class Fleet
{
    /// <summary>The services: every folder under services/ with a project in it.</summary>
    public static IReadOnlyList<string> Services { get; } =
        Directory.GetDirectories(Path.Combine(Docs.Root, "services"))
            .Where(d => Directory.EnumerateFiles(d, "*.csproj").Any())
            .Select(Path.GetFileName)
            .Order(StringComparer.Ordinal)
            .ToList()!;

    /// <summary>The edge's fixed management routes (the management REST API and the OpenAPI documents), read from its ManagementRoutes.</summary>
    public static IReadOnlyList<RouteConfig> ManagementRoutes { get; } = LoadManagementRoutes();

    /// <summary>
    /// The <c>/v1</c> paths the edge serves itself rather than a service (the state behind them
    /// lives in each edge, not in a contract's service): <c>GET /v1/apis/{api_id}/health</c>, read
    /// from its <c>ApiHealthEndpoint.Template</c>.
    /// </summary>
    public static IReadOnlyList<(string Method, string Template, string Source)> EdgeServedPaths { get; } = LoadEdgeServedPaths();

    private static List<(string, string, string)> LoadEdgeServedPaths()
    {
        var edge = Assembly.Load(new AssemblyName("Veil.Edge"));
        var type = edge.GetTypes().SingleOrDefault(t => t.Name == "ApiHealthEndpoint")
            ?? throw new InvalidOperationException("Veil.Edge has no ApiHealthEndpoint type: where does the edge serve GET /v1/apis/{api_id}/health now?");
        var template = (string)(type.GetField("Template", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null)
            ?? throw new InvalidOperationException("ApiHealthEndpoint.Template not found"));
        return [("GET", template, "edge/Upstreams/ApiHealthEndpoint.cs")];
    }

    /// <summary>The OpenAPI document the edge serves itself (every service's, merged), read from its <c>ApiReferenceExtensions.DocumentPath</c>.</summary>
    public static string EdgeOpenApiDocument { get; } = LoadEdgeOpenApiDocument();

    private static string LoadEdgeOpenApiDocument()
    {
        var edge = Assembly.Load(new AssemblyName("Veil.Edge"));
        var type = edge.GetTypes().SingleOrDefault(t => t.Name == "ApiReferenceExtensions")
            ?? throw new InvalidOperationException("Veil.Edge has no ApiReferenceExtensions type: where does the edge serve the merged OpenAPI document now?");
        return (string)(type.GetField("DocumentPath", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null)
            ?? throw new InvalidOperationException("ApiReferenceExtensions.DocumentPath not found"));
    }

    private static List<RouteConfig> LoadManagementRoutes()
    {
        var edge = Assembly.Load(new AssemblyName("Veil.Edge"));
        var type = edge.GetTypes().SingleOrDefault(t => t.Name == "ManagementRoutes")
            ?? throw new InvalidOperationException("Veil.Edge has no ManagementRoutes type: where do the management routes live now?");
        var routes = (IEnumerable)(type.GetProperty("Routes", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)?.GetValue(null)
            ?? throw new InvalidOperationException("ManagementRoutes.Routes not found"));
        return routes.Cast<RouteConfig>().ToList();
    }
}
