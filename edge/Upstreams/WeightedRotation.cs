using System.Globalization;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Upstreams;

/// <summary>
/// One cycle of targets in proportion to their weights, interleaved (nginx's smooth weighted
/// round robin: 3:1 gives a a b a, not a a a b), for one cluster config and one set of available
/// targets. Weights are divided by their greatest common divisor, so a cycle holds at most
/// 16 × 100 entries. <see cref="Next"/> is thread-safe.
/// </summary>
internal sealed class WeightedRotation
{
    private readonly ClusterModel _model;
    private readonly DestinationState[] _available;
    private readonly DestinationState[] _cycle;
    private int _position = -1;

    public WeightedRotation(ClusterModel model, IReadOnlyList<DestinationState> available)
    {
        _model = model;
        _available = [.. available];
        _cycle = Cycle(_available, _available.Select(WeightOf).ToArray());
    }

    /// <summary>True when this rotation was built for this config and these available targets.</summary>
    public bool IsFor(ClusterModel model, IReadOnlyList<DestinationState> available)
    {
        if (!ReferenceEquals(model, _model))
        {
            return false;
        }
        // YARP hands over the same list until availability changes; a list with the same targets
        // (a step that copies it) is the same set.
        if (available.Count != _available.Length)
        {
            return false;
        }
        for (var i = 0; i < _available.Length; i++)
        {
            if (!ReferenceEquals(available[i], _available[i]))
            {
                return false;
            }
        }
        return true;
    }

    public DestinationState Next() =>
        // Unsigned, so the counter's wrap past int.MaxValue stays a valid index.
        _cycle[(uint)Interlocked.Increment(ref _position) % (uint)_cycle.Length];

    /// <summary>A target's weight from its metadata (routing writes 1 to 100); 1 when absent.</summary>
    public static int WeightOf(DestinationState destination) =>
        destination.Model?.Config.Metadata?.GetValueOrDefault(ApiUpstreams.WeightKey) is { } text &&
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var weight) && weight > 0
            ? Math.Min(weight, 100) : 1;

    private static DestinationState[] Cycle(DestinationState[] targets, int[] weights)
    {
        var divisor = weights.Aggregate(0, Gcd);
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] /= divisor;
        }
        var total = weights.Sum();
        var cycle = new DestinationState[total];
        var current = new int[weights.Length];
        for (var n = 0; n < total; n++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best])
                {
                    best = i;
                }
            }
            current[best] -= total;
            cycle[n] = targets[best];
        }
        return cycle;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
