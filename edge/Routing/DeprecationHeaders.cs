using System.Globalization;

namespace Veil.Edge.Routing;

/// <summary>
/// The headers of a deprecated API's or release's responses, in one place: <c>Deprecation</c> (RFC 9745,
/// <c>@</c> and unix seconds), <c>Sunset</c> (RFC 8594, an HTTP-date) and <c>Link</c> with
/// <c>rel="deprecation"</c>. Values are formatted once per config; <see cref="Apply"/> sets them
/// as the response starts, replacing any the upstream sent (the edge states the deprecation).
/// </summary>
internal static class DeprecationHeaders
{
    public static string Deprecation(DateTimeOffset deprecatedAt) =>
        "@" + deprecatedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public static string Sunset(DateTimeOffset sunset) => sunset.UtcDateTime.ToString("r", CultureInfo.InvariantCulture);

    public static string Link(string url) => "<" + url + ">; rel=\"deprecation\"";

    /// <summary>
    /// Sets the headers when <paramref name="response"/> starts: YARP copies the upstream's headers
    /// first, and the deprecation the edge states is what the caller must see.
    /// </summary>
    public static void Apply(HttpResponse response, string? deprecation, string? sunset, string? link) =>
        response.OnStarting(static state =>
        {
            var (response, deprecation, sunset, link) = ((HttpResponse, string?, string?, string?))state;
            Set(response.Headers, deprecation, sunset, link);
            return Task.CompletedTask;
        }, (response, deprecation, sunset, link));

    /// <summary>Sets each header that has a value: Deprecation and Sunset replace the upstream's, Link is added.</summary>
    public static void Set(IHeaderDictionary headers, string? deprecation, string? sunset, string? link)
    {
        if (deprecation is not null)
        {
            headers["Deprecation"] = deprecation;
        }
        if (sunset is not null)
        {
            headers["Sunset"] = sunset;
        }
        if (link is not null)
        {
            headers.Append("Link", link);
        }
    }
}
