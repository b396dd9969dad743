using System.Globalization;

namespace Veil.Edge.Routing;

/// <summary>
/// The headers of a deprecated release's responses, in one place: <c>Deprecation</c> (RFC 9745,
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
            var headers = response.Headers;
            headers["Deprecation"] = release.Deprecation;
            if (release.Sunset is not null)
            {
                headers["Sunset"] = release.Sunset;
            }
            if (release.Link is not null)
            {
                headers.Append("Link", release.Link);
            }
            return Task.CompletedTask;
        }, (response, release));
}
