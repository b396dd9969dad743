using System.Text;
using Microsoft.Extensions.Options;
using Veil.Edge.Calls;
using Veil.ServiceDefaults.Security;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Veil.Edge.Forwarding;

/// <summary>
/// Adds <see cref="EdgeRequestTransform"/> to every route, management and API alike, and
/// <see cref="EdgeResponseTransform"/> to API routes; on an API route with an upstream policy,
/// then its transforms (<see cref="ApiTransformsRequestTransform"/>, <see cref="ApiTransformsResponseTransform"/>)
/// and, when it has credentials or signs, an <see cref="UpstreamPolicyTransform"/> holding that
/// policy, last, so credentials win over transforms and the signature covers the final path. A route whose policy cannot
/// be found fails the build, so YARP keeps serving the last good config rather than one that would
/// send calls without their credential or signature.
/// </summary>
internal sealed class EdgeTransformProvider(IOptions<EdgeOptions> edge, IOptions<VeilAuthOptions> auth, UpstreamPolicies policies, TimeProvider time) : ITransformProvider
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
        if (context.Route.Metadata is { } metadata && metadata.TryGetValue(ApiRoute.ApiIdKey, out var apiId))
        {
            context.ResponseTransforms.Add(_response);
            if (metadata.TryGetValue(UpstreamPolicies.MetadataKey, out var fingerprint))
            {
                var policy = policies.Find(apiId, fingerprint)
                    ?? throw new InvalidOperationException($"No upstream policy {fingerprint} for API {apiId}: the route is not served without it.");
                if (policy.Transforms is { } transforms)
                {
                    if (transforms.RequestHeaders.Count > 0 || transforms.PathPrefix.HasValue)
                    {
                        context.RequestTransforms.Add(new ApiTransformsRequestTransform(transforms));
                    }
                    if (transforms.ResponseHeaders.Count > 0)
                    {
                        context.ResponseTransforms.Add(new ApiTransformsResponseTransform(transforms));
                    }
                }
                if (policy.HasCredentials)
                {
                    context.RequestTransforms.Add(new UpstreamPolicyTransform(policy, time));
                }
            }
        }
    }
}
