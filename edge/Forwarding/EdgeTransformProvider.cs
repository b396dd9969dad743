using System.Text;
using Microsoft.Extensions.Options;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Veil.Edge.Forwarding;

/// <summary>
/// Adds <see cref="EdgeRequestTransform"/> to every route, management and API alike, and
/// <see cref="EdgeResponseTransform"/> to API routes.
/// </summary>
internal sealed class EdgeTransformProvider(IOptions<EdgeOptions> edge, IOptions<VeilAuthOptions> auth) : ITransformProvider
{
    private readonly EdgeRequestTransform _request = new(Encoding.UTF8.GetBytes(auth.Value.Issuer));
    private readonly EdgeResponseTransform _response = new(edge.Value.DropUpstreamSetCookie);

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.RequestTransforms.Add(_request);
        if (context.Route.Metadata?.ContainsKey(ApiRoute.ApiIdKey) == true)
        {
            context.ResponseTransforms.Add(_response);
        }
    }
}
