using Veil.Edge.Calls;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Veil.Edge.Metering;

/// <summary>Adds <see cref="UnknownLengthResponseTransform"/> to API routes (those carrying an API id).</summary>
internal sealed class UsageTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (context.Route.Metadata?.ContainsKey(ApiRoute.ApiIdKey) == true)
        {
            context.ResponseTransforms.Add(UnknownLengthResponseTransform.Instance);
        }
    }
}
