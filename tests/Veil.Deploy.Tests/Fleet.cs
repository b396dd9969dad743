namespace Veil.Deploy.Tests;

/// <summary>
/// Who calls whom, in one place. Every other check compares something with this table: the
/// AuthorizationPolicies, the service-discovery variables in the manifests, the AppHost's wiring
/// and the gRPC clients in the code. A new call in the code fails a test here until the table,
/// the manifests and docs/deployment.md say who may make it.
/// </summary>
internal static class Fleet
{
    public const string Namespace = "veil";

    /// <summary>The services (services/&lt;name&gt;); the edge is the other workload.</summary>
    public static readonly string[] Services = ["identity", "catalog", "subscriptions", "ratelimit", "usage", "billing"];

    public static readonly string[] Workloads = ["edge", .. Services];

    /// <summary>The ingress gateway's identity (the only caller of the edge).</summary>
    public const string IngressGateway = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

    /// <summary>Prometheus scraping <c>/metrics</c> with a mesh identity.</summary>
    public const string Prometheus = "cluster.local/ns/monitoring/sa/prometheus";

    /// <summary>Principals from outside the namespace a policy may name; anything else must be a ServiceAccount here.</summary>
    public static readonly string[] ExternalPrincipals = [IngressGateway, Prometheus];

    /// <summary>gRPC: callee → caller → the RPCs the caller's code calls.</summary>
    public static readonly Dictionary<string, Dictionary<string, string[]>> GrpcCallers = new()
    {
        ["identity"] = new() { ["edge"] = ["ValidateApiKey", "WatchKeyChanges"], ["usage"] = ["ListExpiringApiKeys"] },
        ["catalog"] = new() { ["edge"] = ["WatchGatewayConfig"], ["subscriptions"] = ["GetApi"] },
        ["subscriptions"] = new() { ["edge"] = ["CheckEntitlement", "WatchSubscriptionChanges"], ["billing"] = ["ListSubscriptionsForBilling", "GetCycleTerms"], ["catalog"] = ["SetApiLifecycle"] },
        ["ratelimit"] = new() { ["edge"] = ["AcquireLease"] },
        ["usage"] = new() { ["edge"] = ["IngestEvents", "WatchQuotaStates"], ["billing"] = ["ListCycleUsage"], ["subscriptions"] = ["NotifyConsumers"] },
        ["billing"] = new() { ["subscriptions"] = ["CheckCreditHold"] },
    };

    /// <summary>REST ports the edge proxies the management API to (edge/Routing/ManagementRoutes.cs).</summary>
    public static readonly string[] ProxiedByEdge = ["identity", "catalog", "subscriptions", "usage", "billing"];

    /// <summary>Services that validate access tokens against identity's JWKS (AppHost: WithIdentity).</summary>
    public static readonly string[] JwksReaders = ["catalog", "subscriptions", "usage", "billing"];

    public static readonly string[] JwksPaths = ["/.well-known/openid-configuration", "/.well-known/jwks.json"];

    public static string Principal(string serviceAccount) => $"cluster.local/ns/{Namespace}/sa/{serviceAccount}";

    /// <summary>The endpoints (service, "http" | "grpc") a workload calls.</summary>
    public static IReadOnlySet<(string Service, string Endpoint)> Calls(string workload)
    {
        var calls = new HashSet<(string, string)>();
        foreach (var (callee, callers) in GrpcCallers)
        {
            if (callers.ContainsKey(workload))
            {
                calls.Add((callee, "grpc"));
            }
        }
        if (workload == "edge")
        {
            calls.UnionWith(ProxiedByEdge.Select(s => (s, "http")));
        }
        if (JwksReaders.Contains(workload))
        {
            calls.Add(("identity", "http"));
        }
        return calls;
    }
}
