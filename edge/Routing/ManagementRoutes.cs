using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Routing;

/// <summary>
/// The management REST API behind one base URL: fixed routes to each service's HTTP endpoint, found
/// through service discovery (<c>http://_http.identity</c> ← <c>services:identity:http:0</c>).
/// Authorization headers pass through unchanged; the services validate JWTs themselves.
/// </summary>
internal static class ManagementRoutes
{
    /// <summary>Management routes win over API slugs (which catalog keeps off these prefixes anyway).</summary>
    public const int Order = -100;

    /// <summary>Destinations whose id starts with this are resolved through service discovery; no others are.</summary>
    public const string DiscoveryDestinationPrefix = "discovery";

    /// <summary>First path segments an API slug may never take, because the edge itself serves them.</summary>
    public static readonly IReadOnlySet<string> ReservedSegments = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "v1", "openapi", ".well-known", "_veil", "health", "alive", "metrics", "docs",
    };

    private static readonly (string Service, string[] Prefixes)[] Services =
    [
        ("identity", ["/v1/auth", "/v1/accounts", "/v1/keys", "/.well-known"]),
        // "/v1/apis:import" is a segment of its own ("apis:import"), which "/v1/apis/{**rest}" does not match.
        ("catalog", ["/v1/apis", "/v1/apis:import"]),
        ("subscriptions", ["/v1/plans", "/v1/subscriptions"]),
        ("usage", ["/v1/usage"]),
        ("billing", ["/v1/invoices", "/v1/billing", "/v1/revenue"]),
    ];

    /// <summary>The services behind the management API, in the order their documents are merged.</summary>
    public static IReadOnlyList<string> ServiceNames { get; } = Services.Select(s => s.Service).ToArray();

    public static IReadOnlyList<RouteConfig> Routes { get; } = CreateRoutes();

    public static IReadOnlyList<ClusterConfig> Clusters { get; } = CreateClusters();

    private static readonly IReadOnlySet<string> ClusterIds = Clusters.Select(c => c.ClusterId).ToHashSet(StringComparer.Ordinal);

    /// <summary>True for the clusters of the fleet's own services (not SSRF-guarded: they are internal by design).</summary>
    public static bool IsManagementCluster(string clusterId) => ClusterIds.Contains(clusterId);

    private static List<RouteConfig> CreateRoutes()
    {
        var routes = new List<RouteConfig>();
        foreach (var (service, prefixes) in Services)
        {
            foreach (var prefix in prefixes)
            {
                routes.Add(new RouteConfig
                {
                    RouteId = "mgmt" + prefix.Replace('/', '-'),
                    ClusterId = ClusterId(service),
                    Order = Order,
                    Match = new RouteMatch { Path = prefix + "/{**rest}" },
                });
            }
            // Each service's OpenAPI document, renamed so they can live side by side.
            routes.Add(new RouteConfig
            {
                RouteId = $"mgmt-openapi-{service}",
                ClusterId = ClusterId(service),
                Order = Order,
                Match = new RouteMatch { Path = $"/openapi/{service}.json", Methods = ["GET", "HEAD"] },
            }.WithTransformPathSet("/openapi/v1.json"));
        }
        return routes;
    }

    private static List<ClusterConfig> CreateClusters()
    {
        var clusters = new List<ClusterConfig>();
        foreach (var (service, _) in Services)
        {
            clusters.Add(new ClusterConfig
            {
                ClusterId = ClusterId(service),
                Destinations = new Dictionary<string, DestinationConfig>
                {
                    [DiscoveryDestinationPrefix] = new() { Address = $"http://_http.{service}" },
                },
            });
        }
        return clusters;
    }

    private static string ClusterId(string service) => "mgmt-" + service;
}
