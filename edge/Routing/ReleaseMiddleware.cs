using Veil.Edge.Calls;

namespace Veil.Edge.Routing;

/// <summary>
/// First step on API routes (docs/edge.md, "Releases"): a request whose
/// <see cref="ReleaseRoutes.HeaderName"/> names no release of the API is answered 404 (a release
/// that exists has a header route, which would have matched first), one naming several 400; neither
/// is a call (not metered, never forwarded). A deprecated release's responses get its
/// <see cref="DeprecationHeaders"/>.
/// </summary>
internal sealed class ReleaseMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var release = context.GetEndpoint()?.Metadata.GetMetadata<ReleaseRoute>();
        if (release is null)
        {
            return next(context);
        }
        var asked = context.Request.Headers[ReleaseRoutes.HeaderName];
        if (asked.Count > 1 || (asked.Count == 1 && asked[0] is { Length: > 0 } value && value != release.Name))
        {
            var several = asked.Count > 1 || asked[0]!.Contains(',', StringComparison.Ordinal);
            return Problems.WriteAsync(context, several ? release.AmbiguousRelease : release.UnknownRelease);
        }
        if (release.Deprecation is not null)
        {
            DeprecationHeaders.Apply(context.Response, release.Deprecation, release.Sunset, release.Link);
        }
        return next(context);
    }
}
