using System.Globalization;
using Veil.Catalog.V1;

namespace Veil.Edge.Routing;

/// <summary>
/// An API route's lifecycle (docs/catalog.md, "Lifecycle"), parsed once per catalog config from
/// the route's metadata and attached to the endpoint of every API that is not simply active, where
/// <see cref="ApiLifecycleMiddleware"/> reads it. <see cref="Retiring"/> turns into 410 at
/// <see cref="SunsetAt"/> by the edge's own clock, so nothing has to be pushed at that moment.
/// The header values are built here, once.
/// </summary>
internal sealed class RouteLifecycle
{
    public const string StateKey = "Veil.State";
    public const string DeprecateTimeKey = "Veil.DeprecateTime";
    public const string SunsetTimeKey = "Veil.SunsetTime";
    public const string DeprecationLinkKey = "Veil.DeprecationLink";

    private RouteLifecycle(ApiState state, DateTimeOffset? deprecatedAt, DateTimeOffset? sunsetAt, string link)
    {
        Suspended = state == ApiState.Suspended;
        Retiring = state is ApiState.Retiring or ApiState.Retired;
        SunsetAt = sunsetAt;
        // RFC 9745: an sf-date, "@" and unix seconds. RFC 8594: an HTTP-date.
        Deprecation = deprecatedAt is { } d ? DeprecationHeaders.Deprecation(d) : null;
        Sunset = sunsetAt is { } s ? DeprecationHeaders.Sunset(s) : null;
        Link = link.Length > 0 ? DeprecationHeaders.Link(link) : null;
    }

    /// <summary>Calls get 503 api-suspended.</summary>
    public bool Suspended { get; }

    /// <summary>Deleted: calls get 410 from <see cref="SunsetAt"/> (at once when it has none).</summary>
    public bool Retiring { get; }

    public DateTimeOffset? SunsetAt { get; }

    /// <summary>The <c>Deprecation</c> header value, or null.</summary>
    public string? Deprecation { get; }

    /// <summary>The <c>Sunset</c> header value, or null.</summary>
    public string? Sunset { get; }

    /// <summary>The <c>Link</c> header value (rel="deprecation"), or null.</summary>
    public string? Link { get; }

    /// <summary>Whether calls get 410 at <paramref name="now"/>.</summary>
    public bool IsGone(DateTimeOffset now) => Retiring && (SunsetAt is not { } sunset || now >= sunset);

    /// <summary>The route metadata of <paramref name="route"/>'s lifecycle; nothing for an active API.</summary>
    public static void AddMetadata(GatewayRoute route, IDictionary<string, string> metadata)
    {
        if (route.State is ApiState.Unspecified or ApiState.Active && route.DeprecateTime is null && route.SunsetTime is null)
        {
            return;
        }
        metadata[StateKey] = ((int)route.State).ToString(CultureInfo.InvariantCulture);
        if (route.DeprecateTime is { } deprecated)
        {
            metadata[DeprecateTimeKey] = deprecated.ToDateTimeOffset().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        }
        if (route.SunsetTime is { } sunset)
        {
            metadata[SunsetTimeKey] = sunset.ToDateTimeOffset().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        }
        if (route.DeprecationLink.Length > 0)
        {
            metadata[DeprecationLinkKey] = route.DeprecationLink;
        }
    }

    /// <summary>The lifecycle in <paramref name="metadata"/>, or null for an active API.</summary>
    public static RouteLifecycle? From(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null || !metadata.TryGetValue(StateKey, out var stateText) ||
            !int.TryParse(stateText, NumberStyles.None, CultureInfo.InvariantCulture, out var state))
        {
            return null;
        }
        var lifecycle = new RouteLifecycle((ApiState)state, Time(metadata, DeprecateTimeKey), Time(metadata, SunsetTimeKey),
            metadata.GetValueOrDefault(DeprecationLinkKey) ?? "");
        return lifecycle.Suspended || lifecycle.Retiring || lifecycle.Deprecation is not null || lifecycle.Sunset is not null ? lifecycle : null;
    }

    private static DateTimeOffset? Time(IReadOnlyDictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : null;
}
