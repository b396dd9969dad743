using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
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
    public const string ProviderIdKey = "Veil.ProviderId";

    /// <summary>Metadata key holding the API config version served.</summary>
    public const string VersionKey = "Veil.Version";

    /// <summary>After the management routes and the edge's own endpoints (order 0).</summary>
    public const int Order = 100;

    /// <summary>
    /// Builds the route and cluster, or says why the route cannot be served. A route with an
    /// upstream policy carries its <paramref name="policyFingerprint"/> (<see cref="UpstreamPolicies.MetadataKey"/>).
    /// </summary>
    public static bool TryCreate(GatewayRoute source, TimeSpan defaultTimeout,
        [NotNullWhen(true)] out RouteConfig? route, [NotNullWhen(true)] out ClusterConfig? cluster, [NotNullWhen(false)] out string? problem,
        string? policyFingerprint = null)
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
        if (!Uri.TryCreate(source.UpstreamUrl, UriKind.Absolute, out var upstream) ||
            (upstream.Scheme != Uri.UriSchemeHttp && upstream.Scheme != Uri.UriSchemeHttps) ||
            !string.IsNullOrEmpty(upstream.Query) || !string.IsNullOrEmpty(upstream.Fragment) || !string.IsNullOrEmpty(upstream.UserInfo))
        {
            problem = "the upstream URL is not an absolute http(s) URL without query, fragment or user info";
            return false;
        }

        var id = "api-" + source.ApiId;
        var timeout = source.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(source.TimeoutMs) : defaultTimeout;
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
        route = new RouteConfig
        {
            RouteId = id,
            ClusterId = id,
            Order = Order,
            Match = new RouteMatch { Path = "/" + source.Slug + "/{**rest}" },
            Metadata = metadata,
        }.WithTransformPathRemovePrefix("/" + source.Slug);
        cluster = new ClusterConfig
        {
            ClusterId = id,
            // Literal destination id: upstreams never go through service discovery, so a provider
            // cannot point an API at an internal service by its discovery name.
            Destinations = new Dictionary<string, DestinationConfig> { ["upstream"] = new() { Address = upstream.AbsoluteUri } },
            HttpRequest = new ForwarderRequestConfig { ActivityTimeout = timeout },
        };
        problem = null;
        return true;
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
            route.Match.Path ?? "");
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();
}
