namespace Veil.Edge.Calls;

/// <summary>
/// Endpoint metadata of an API route: what usage events and metrics say about it. Built by routing
/// (<c>ApiRoutes.Describe</c>) once per catalog config; API routes also carry <see cref="ApiIdKey"/>
/// in their route metadata, which is how the transforms tell API traffic from management traffic.
/// <paramref name="Release"/> is the release the route serves (docs/catalog.md, "Releases"): every
/// release of an API is the same API to entitlement, limits, quota, metering and billing.
/// </summary>
internal sealed record ApiRoute(string ApiId, string ProviderId, long ConfigVersion, string Template, string Release = ApiRoute.DefaultRelease)
{
    /// <summary>The release an API's own configuration is, and where a call naming none goes.</summary>
    public const string DefaultRelease = "v1";

    /// <summary>Route and cluster metadata key holding the release a route serves (absent: <see cref="DefaultRelease"/>).</summary>
    public const string ReleaseKey = "Veil.Release";

    /// <summary>Metadata key holding the API id on API routes (and nowhere else).</summary>
    public const string ApiIdKey = "Veil.ApiId";

    /// <summary>Metadata key holding the API's provider account id on API routes.</summary>
    public const string ProviderIdKey = "Veil.ProviderId";

    /// <summary>The route (and cluster) id of an API: <c>api-{api_id}</c>.</summary>
    public static string RouteIdOf(string apiId) => "api-" + apiId;

    /// <summary>The route (and cluster) id of one of an API's releases (v2 and up): <c>api-{api_id}.{release}</c>.</summary>
    public static string RouteIdOf(string apiId, string release) => "api-" + apiId + "." + release;
}
