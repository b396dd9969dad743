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
