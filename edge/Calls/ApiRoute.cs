namespace Veil.Edge.Calls;

/// <summary>
/// Endpoint metadata of an API route: what usage events and metrics say about it. Built by routing
/// (<c>ApiRoutes.Describe</c>) once per catalog config; API routes also carry <see cref="ApiIdKey"/>
/// in their route metadata, which is how the transforms tell API traffic from management traffic.
/// </summary>
internal sealed record ApiRoute(string ApiId, string ProviderId, long ConfigVersion, string Template)
{
    /// <summary>Metadata key holding the API id on API routes (and nowhere else).</summary>
    public const string ApiIdKey = "Veil.ApiId";

    /// <summary>Metadata key holding the API's provider account id on API routes.</summary>
    public const string ProviderIdKey = "Veil.ProviderId";

    /// <summary>The route (and cluster) id of an API: <c>api-{api_id}</c>.</summary>
    public static string RouteIdOf(string apiId) => "api-" + apiId;
}
