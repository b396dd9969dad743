using System.Runtime.CompilerServices;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// "round_robin" with weights (YARP's RoundRobin ignores them): each cluster cycles through a
/// <see cref="WeightedRotation"/> of its available targets, in which each appears as often as its
/// weight (<see cref="ApiUpstreams.WeightKey"/>). The rotation is built when the cluster's config
/// or its set of available targets changes (a config apply, a target leaving or returning after
/// health checks), never per call; a call costs a table lookup, two reference checks and an
/// interlocked increment.
/// </summary>
internal sealed class WeightedRoundRobinPolicy : ILoadBalancingPolicy
{
    private readonly ConditionalWeakTable<ClusterState, Slot> _rotations = new();

    public string Name => ApiUpstreams.WeightedRoundRobin;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0)
        {
            return null;
        }
        var slot = _rotations.GetValue(cluster, static _ => new Slot());
        var model = cluster.Model;
        var rotation = slot.Rotation;
        if (rotation is null || !rotation.IsFor(model, availableDestinations))
        {
            // Racing builders each build the same rotation; the last one written is kept.
            rotation = new WeightedRotation(model, availableDestinations);
            slot.Rotation = rotation;
        }
        return rotation.Next();
    }

    private sealed class Slot
    {
        private volatile WeightedRotation? _rotation;

        public WeightedRotation? Rotation
        {
            get => _rotation;
            set => _rotation = value;
        }
    }
}
