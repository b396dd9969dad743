using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace Veil.Edge.Resilience;

/// <summary>An API's parsed policies, swapped whole when its cluster config changes.</summary>
internal sealed record ApiSettings(BreakerSettings Breaker, RetrySettings Retry)
{
    public static readonly ApiSettings Default = new(BreakerSettings.Default, RetrySettings.Default);
}

/// <summary>
/// The resilience state of one API on this edge: its settings (parsed once per cluster config),
/// one <see cref="TargetBreaker"/> per target and its <see cref="RetryBudget"/>. A target's breaker
/// survives config changes unless the target's address changes.
/// </summary>
internal sealed class ApiResilience(string apiId)
{
    private readonly Lock _lock = new();
    private volatile ApiSettings _settings = ApiSettings.Default;
    private volatile Dictionary<string, (TargetBreaker Breaker, string Address)> _targets = new(StringComparer.Ordinal);
    private volatile ClusterModel? _model;
    private volatile bool _anyNotClosed;

    public string ApiId { get; } = apiId;

    public ApiSettings Settings => _settings;

    public RetryBudget Budget { get; } = new();

    /// <summary>Whether any target's breaker is open or half-open: when not, admission has nothing to check.</summary>
    public bool AnyNotClosed => _anyNotClosed;

    public IEnumerable<TargetBreaker> Targets => _targets.Values.Select(t => t.Breaker);

    /// <summary>Whether <paramref name="model"/> is the config the settings were read from.</summary>
    public bool IsCurrent(ClusterModel model) => ReferenceEquals(_model, model);

    /// <summary>Reads the settings of a new cluster config and keeps the breakers of unchanged targets.</summary>
    public void Refresh(ClusterState cluster, ClusterModel model)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_model, model))
            {
                return;
            }
            var (breaker, retry) = ResilienceSettings.Read(model.Config);
            _settings = new ApiSettings(breaker, retry);
            var previous = _targets;
            var next = new Dictionary<string, (TargetBreaker Breaker, string Address)>(StringComparer.Ordinal);
            foreach (var destination in cluster.Destinations.Values)
            {
                var address = destination.Model?.Config.Address ?? "";
                next[destination.DestinationId] = previous.TryGetValue(destination.DestinationId, out var kept) && kept.Address == address
                    ? kept
                    : (new TargetBreaker(destination.DestinationId), address);
            }
            _targets = next;
            _anyNotClosed = next.Values.Any(t => t.Breaker.State != BreakerState.Closed);
            _model = model;
        }
    }

    /// <summary>The breaker of <paramref name="destination"/> (created if the destination is newer than the settings).</summary>
    public TargetBreaker Target(DestinationState destination)
    {
        if (_targets.TryGetValue(destination.DestinationId, out var target))
        {
            return target.Breaker;
        }
        lock (_lock)
        {
            if (!_targets.TryGetValue(destination.DestinationId, out target))
            {
                target = (new TargetBreaker(destination.DestinationId), destination.Model?.Config.Address ?? "");
                _targets = new Dictionary<string, (TargetBreaker Breaker, string Address)>(_targets, StringComparer.Ordinal) { [destination.DestinationId] = target };
            }
            return target.Breaker;
        }
    }

    /// <summary>After a transition: whether any breaker is open or half-open now.</summary>
    public void Recount()
    {
        lock (_lock)
        {
            _anyNotClosed = _targets.Values.Any(t => t.Breaker.State != BreakerState.Closed);
        }
    }
}

/// <summary>Every API's <see cref="ApiResilience"/>, held as long as YARP holds the API's cluster.</summary>
internal sealed class ResilienceRegistry
{
    private readonly ConditionalWeakTable<ClusterState, ApiResilience> _apis = new();

    public ApiResilience For(ClusterState cluster, ClusterModel model, string apiId)
    {
        if (!_apis.TryGetValue(cluster, out var api))
        {
            api = _apis.GetValue(cluster, _ => new ApiResilience(apiId));
        }
        if (!api.IsCurrent(model))
        {
            api.Refresh(cluster, model);
        }
        return api;
    }

    public IEnumerable<ApiResilience> Apis => _apis.Select(pair => pair.Value);
}
