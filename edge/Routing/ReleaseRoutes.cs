using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Veil.Edge.Routing;

/// <summary>
/// The routes of an API's releases (docs/edge.md, "Releases"). v1 is the API's own route,
/// <c>/{slug}/{**rest}</c>. Each further release vN gets <c>/{slug}/vN/{**rest}</c> (the segment
/// removed) with a cluster of its own, so its health checks, breakers and retry budget are its own.
/// With more than one release, each also gets a header route: <c>/{slug}/{**rest}</c> with
/// <see cref="HeaderName"/> equal to its name (the path kept as is), ordered before every path
/// route, so the header wins over a path that starts with a release name. A path segment that
/// names no release is an ordinary path of v1: only the releases that exist have routes.
/// </summary>
internal static partial class ReleaseRoutes
{
    /// <summary>The request header naming the release (consumed by the edge: never sent upstream, as every X-Veil-*).</summary>
    public const string HeaderName = "X-Veil-Release";

    /// <summary>Path routes of releases: after the header routes, before the API's own route.</summary>
    public const int PathOrder = ApiRoutes.Order - 1;

    /// <summary>Header routes: first of the API's routes, each release its own order (two values must not tie).</summary>
    private const int HeaderOrder = ApiRoutes.Order - 90;

    /// <summary>Catalog's most (Catalog:MaxReleasesPerApi): more would order header routes after the path routes.</summary>
    private const int MaxReleases = 64;

    private const string NamesKey = "Veil.Releases";
    private const string DeprecationKey = "Veil.Deprecation";
    private const string SunsetKey = "Veil.Sunset";
    private const string LinkKey = "Veil.DeprecationLink";

    /// <summary>
    /// The releases of <paramref name="source"/>, v1 first (an older catalog sends none: v1 alone),
    /// or why they cannot be served. Names become route literals, so the edge checks them again.
    /// </summary>
    public static bool TryRead(GatewayRoute source, [NotNullWhen(true)] out IReadOnlyList<ApiRelease>? releases, [NotNullWhen(false)] out string? problem)
    {
        releases = null;
        if (source.Releases.Count == 0)
        {
            releases = [new ApiRelease { Name = ApiRoute.DefaultRelease }];
            problem = null;
            return true;
        }
        if (source.Releases[0].Name != ApiRoute.DefaultRelease || source.Releases.Count > MaxReleases)
        {
            problem = $"the releases do not start with v1, or there are more than {MaxReleases}";
            return false;
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var release in source.Releases)
        {
            if (!NamePattern().IsMatch(release.Name) || !names.Add(release.Name))
            {
                problem = "a release name is not v and a number, or is not unique";
                return false;
            }
            if (release.DeprecationLink.Length > 0 && !IsLinkTarget(release.DeprecationLink))
            {
                problem = $"the deprecation link of release {release.Name} is not an https URL";
                return false;
            }
        }
        releases = source.Releases;
        problem = null;
        return true;
    }

    /// <summary>The route a release vN serves from: the API's, with the release's upstream and policies.</summary>
    public static GatewayRoute Target(GatewayRoute source, ApiRelease release)
    {
        var target = source.Clone();
        target.UpstreamUrl = release.UpstreamUrl;
        target.Policies = release.Policies;
        target.Releases.Clear();
        return target;
    }

    /// <summary><paramref name="route"/> with what the release step needs in its metadata: the release, its deprecation, the API's release names.</summary>
    public static RouteConfig Describe(RouteConfig route, ApiRelease release, IReadOnlyList<ApiRelease> releases)
    {
        var metadata = new Dictionary<string, string>(route.Metadata!, StringComparer.Ordinal)
        {
            [ApiRoute.ReleaseKey] = release.Name,
            [NamesKey] = string.Join(", ", releases.Select(r => r.Name)),
        };
        if (release.State == ApiReleaseState.Deprecated)
        {
            metadata[DeprecationKey] = DeprecationHeaders.Deprecation(release.DeprecateTime?.ToDateTimeOffset() ?? DateTimeOffset.UnixEpoch);
            if (release.SunsetTime is { } sunset)
            {
                metadata[SunsetKey] = DeprecationHeaders.Sunset(sunset.ToDateTimeOffset());
            }
            if (release.DeprecationLink.Length > 0)
            {
                metadata[LinkKey] = DeprecationHeaders.Link(release.DeprecationLink);
            }
        }
        return route with { Metadata = metadata };
    }

    /// <summary>
    /// The header route of the release <paramref name="index"/> (v1 is 0) whose own route is
    /// <paramref name="route"/>: the same cluster and metadata, <c>/{slug}/{**rest}</c> with the header.
    /// </summary>
    public static RouteConfig HeaderRoute(RouteConfig route, string slug, string release, int index) => new RouteConfig
    {
        RouteId = route.RouteId + ".header",
        ClusterId = route.ClusterId,
        Order = HeaderOrder + index,
        Match = new RouteMatch
        {
            Path = "/" + slug + "/{**rest}",
            Headers = [new RouteHeader { Name = HeaderName, Values = [release], Mode = HeaderMatchMode.ExactHeader, IsCaseSensitive = true }],
        },
        Metadata = route.Metadata,
    }.WithTransformPathRemovePrefix("/" + slug);

    /// <summary>The release step's view of an API route (null for management routes), parsed once per config.</summary>
    public static ReleaseRoute? Find(RouteConfig route)
    {
        if (route.Metadata is not { } metadata || !metadata.TryGetValue(ApiRoute.ApiIdKey, out _))
        {
            return null;
        }
        var name = metadata.GetValueOrDefault(ApiRoute.ReleaseKey) ?? ApiRoute.DefaultRelease;
        var names = metadata.GetValueOrDefault(NamesKey) ?? ApiRoute.DefaultRelease;
        return new ReleaseRoute(
            name,
            new Problem(StatusCodes.Status404NotFound,
                $"The API has no release named in {HeaderName}: its releases are {names}. Send one of them, or leave the header out for v1.",
                "https://veil.dev/problems/unknown-release", "Unknown release"),
            new Problem(StatusCodes.Status400BadRequest,
                $"{HeaderName} must name one release ({names}), once.",
                "https://veil.dev/problems/unknown-release", "Unknown release"),
            metadata.GetValueOrDefault(DeprecationKey),
            metadata.GetValueOrDefault(SunsetKey),
            metadata.GetValueOrDefault(LinkKey));
    }

    private static bool IsLinkTarget(string link) =>
        Uri.TryCreate(link, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps &&
        !link.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c is '<' or '>' or '"');

    [GeneratedRegex("^v[1-9][0-9]{0,5}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}

/// <summary>
/// Endpoint metadata of an API route for the release step: the release it serves, its answers to a
/// header naming another or several releases, and its deprecation headers (null while active).
/// </summary>
internal sealed record ReleaseRoute(string Name, Problem UnknownRelease, Problem AmbiguousRelease, string? Deprecation, string? Sunset, string? Link);
