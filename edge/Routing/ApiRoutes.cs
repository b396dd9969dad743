using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Routing;

/// <summary>
/// Turns catalog's <see cref="GatewayRoute"/> into a YARP route and cluster: <c>/{slug}/{**rest}</c>
/// → upstream base URL + rest (prefix removed, query kept), with the API's timeout as the
/// forwarder's activity timeout. Routes carry the API id in their metadata; that is how the
/// pipeline and the transforms tell API traffic from management traffic.
/// </summary>
internal static partial class ApiRoutes
{
    /// <summary>Metadata key holding the API's provider account id (usage events carry it).</summary>
    public const string ProviderIdKey = ApiRoute.ProviderIdKey;

    /// <summary>Metadata key holding the API config version served.</summary>
    public const string VersionKey = "Veil.Version";

    /// <summary>After the management routes and the edge's own endpoints (order 0).</summary>
    public const int Order = 100;

    /// <summary>
    /// Builds the route and cluster, or says why the route cannot be served. A route with an
    /// upstream policy carries its <paramref name="policyFingerprint"/> (<see cref="UpstreamPolicies.MetadataKey"/>).
    /// With a <paramref name="release"/> (v2 and up, <see cref="ReleaseRoutes"/>) the route serves
    /// <c>/{slug}/{release}/{**rest}</c> from a cluster of its own; without, <c>/{slug}/{**rest}</c>.
    /// </summary>
    public static bool TryCreate(GatewayRoute source, TimeSpan defaultTimeout,
        [NotNullWhen(true)] out RouteConfig? route, [NotNullWhen(true)] out ClusterConfig? cluster, [NotNullWhen(false)] out string? problem,
        string? policyFingerprint = null, string? release = null)
    {
        route = null;
        cluster = null;
        if (string.IsNullOrEmpty(source.ApiId))
        {
            problem = "no API id";
            return false;
        }
        // The slug becomes a route template literal: anything but the catalog's slug grammar could
        // change the template's meaning, so the edge checks it again.
        if (!SlugPattern().IsMatch(source.Slug))
        {
            problem = "the slug is not a valid slug";
            return false;
        }
        if (ManagementRoutes.ReservedSegments.Contains(source.Slug))
        {
            problem = "the slug is reserved by the edge";
            return false;
        }
        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.Ordinal);
        if (source.Policies?.Targets is { Items.Count: > 0 } targets)
        {
            for (var i = 0; i < targets.Items.Count; i++)
            {
                if (!TryParseUpstream(targets.Items[i].Url, out var target) || targets.Items[i].Weight is < 0 or > 100)
                {
                    problem = $"target {i} is not an absolute http(s) URL without query, fragment or user info with a weight of 0 to 100";
                    return false;
                }
                destinations[TargetId(i)] = new()
                {
                    Address = target.AbsoluteUri,
                    Metadata = new Dictionary<string, string>
                    {
                        [WeightKey] = Math.Max(1, targets.Items[i].Weight).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    },
                };
            }
        }
        else if (TryParseUpstream(source.UpstreamUrl, out var upstream))
        {
            destinations["upstream"] = new() { Address = upstream.AbsoluteUri };
        }
        else
        {
            problem = "the upstream URL is not an absolute http(s) URL without query, fragment or user info";
            return false;
        }
        if (!TryLoadBalancingPolicy(source.Policies?.Targets?.LoadBalancing ?? "", out var loadBalancing))
        {
            problem = "the load-balancing policy is unknown";
            return false;
        }

        var id = release is null ? ApiRoute.RouteIdOf(source.ApiId) : ApiRoute.RouteIdOf(source.ApiId, release);
        var prefix = release is null ? "/" + source.Slug : "/" + source.Slug + "/" + release;
        var timeout = source.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(source.TimeoutMs) : defaultTimeout;
        if (!UpstreamProtocols.TryCreate(source.Policies?.Protocol, timeout, out var requestConfig))
        {
            problem = "the upstream protocol is unknown";
            return false;
        }
        var metadata = new Dictionary<string, string>
        {
            [ApiRoute.ApiIdKey] = source.ApiId,
            ["Veil.Slug"] = source.Slug,
            [VersionKey] = source.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [ProviderIdKey] = source.ProviderId,
        };
        if (policyFingerprint is not null)
        {
            metadata[UpstreamPolicies.MetadataKey] = policyFingerprint;
        }
        if (release is not null)
        {
            metadata[ApiRoute.ReleaseKey] = release;
        }
        // Suspended, deprecated, deleted: a change of these changes the route, which YARP rebuilds.
        RouteLifecycle.AddMetadata(source, metadata);
        route = new RouteConfig
        {
            RouteId = id,
            ClusterId = id,
            // A release's path wins over the API's /{slug}/{**rest} (its literal segment would too).
            Order = release is null ? Order : ReleaseRoutes.PathOrder,
            Match = new RouteMatch { Path = prefix + "/{**rest}" },
            Metadata = metadata,
        }.WithTransformPathRemovePrefix(prefix);
        var clusterMetadata = new Dictionary<string, string> { [ApiRoute.ApiIdKey] = source.ApiId };
        if (release is not null)
        {
            clusterMetadata[ApiRoute.ReleaseKey] = release;
        }
        cluster = new ClusterConfig
        {
            ClusterId = id,
            // Literal destination ids ("upstream", or "t0", "t1", … for targets): upstreams never go
            // through service discovery, so a provider cannot point an API at an internal service by
            // its discovery name.
            Destinations = destinations,
            LoadBalancingPolicy = loadBalancing,
            HealthCheck = ApiUpstreams.HealthCheck(source.Policies?.HealthCheck, clusterMetadata),
            Metadata = clusterMetadata,
            HttpRequest = requestConfig,
        };
        cluster = ResiliencePolicies.Apply(cluster, source.Policies); // circuit breaker, retries (Resilience/)
        problem = null;
        return true;
    }

    /// <summary>Destination metadata key holding a target's weight (1 to 100).</summary>
    public const string WeightKey = ApiUpstreams.WeightKey;

    /// <summary>The destination id of target <paramref name="index"/>: never its address (metrics and logs name it).</summary>
    public static string TargetId(int index) => "t" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool TryParseUpstream(string url, [NotNullWhen(true)] out Uri? upstream) =>
        Uri.TryCreate(url, UriKind.Absolute, out upstream) &&
        (upstream.Scheme == Uri.UriSchemeHttp || upstream.Scheme == Uri.UriSchemeHttps) &&
        string.IsNullOrEmpty(upstream.Query) && string.IsNullOrEmpty(upstream.Fragment) && string.IsNullOrEmpty(upstream.UserInfo);

    /// <summary>Catalog's load-balancing names as YARP's policies (docs/policies.md).</summary>
    private static bool TryLoadBalancingPolicy(string name, [NotNullWhen(true)] out string? policy)
    {
        policy = name switch
        {
            "" or "round_robin" => ApiUpstreams.WeightedRoundRobin,
            "least_requests" => LoadBalancingPolicies.LeastRequests,
            "power_of_two_choices" => LoadBalancingPolicies.PowerOfTwoChoices,
            _ => null,
        };
        return policy is not null;
    }

    /// <summary>
    /// The API route's facts, parsed once per config from its metadata, or null for a management
    /// route. <c>MapEdge</c> attaches it to the route's endpoint, where the pipeline reads it.
    /// </summary>
    public static ApiRoute? Describe(RouteConfig route)
    {
        if (route.Metadata is not { } metadata || !metadata.TryGetValue(ApiRoute.ApiIdKey, out var apiId))
        {
            return null;
        }
        return new ApiRoute(
            apiId,
            metadata.GetValueOrDefault(ProviderIdKey) ?? "",
            long.TryParse(metadata.GetValueOrDefault(VersionKey), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var version) ? version : 0,
            route.Match.Path ?? "",
            metadata.GetValueOrDefault(ApiRoute.ReleaseKey) ?? ApiRoute.DefaultRelease);
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();
}
