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

    /// <summary>Sets the headers of <paramref name="release"/> when <paramref name="response"/> starts.</summary>
    public static void Apply(HttpResponse response, ReleaseRoute release) =>
        response.OnStarting(static state =>
        {
            var (response, release) = ((HttpResponse, ReleaseRoute))state;
            Set(response.Headers, release.Deprecation, release.Sunset, release.Link);
            return Task.CompletedTask;
        }, (response, release));

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
