using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;
using Veil.Edge.Calls;
using Yarp.ReverseProxy.Configuration;

namespace Veil.Edge.Routing;

/// <summary>
/// The routes the proxy serves: the fixed management routes plus one route per published API from
/// catalog's latest snapshot. Each snapshot replaces the whole table; YARP diffs it by route and
/// cluster id and rebuilds only what changed. Knows which revision is actually being served
/// (applied by YARP), not only the last one received.
/// </summary>
internal sealed class GatewayRouteTable : IConfigChangeListener
{
    // Not a number, so never mistaken for a catalog revision (catalog's first may be 0).
    private const string ManagementOnlyRevision = "management-only";

    private readonly InMemoryConfigProvider _provider = new(ManagementRoutes.Routes, ManagementRoutes.Clusters, ManagementOnlyRevision);
    private readonly EdgeOptions _options;
    private readonly UpstreamPolicies _policies;
    private readonly TimeProvider _time;
    private readonly ILogger<GatewayRouteTable> _logger;
    private long _servedRevision = -1;
    private int _servedApiRoutes;
    private Dictionary<string, long> _servedVersions = new(StringComparer.Ordinal);
    private long _appliedAtUnixMs;
    private bool _watchConnected;
    private readonly ConditionalWeakTable<IReadOnlyList<RouteConfig>, Snapshot> _revisions = new();
    private readonly Lock _applyGate = new();
    // The route each API last applied from, and the versions already reported as not applicable.
    private Dictionary<string, BuiltRoute> _lastGood = new(StringComparer.Ordinal);
    private readonly HashSet<(string ApiId, long Version)> _reported = [];
    private long _rejectedRouteVersions;
    private int _staleApiRoutes;

    public GatewayRouteTable(IOptions<EdgeOptions> options, UpstreamPolicies policies, TimeProvider time, ILogger<GatewayRouteTable> logger)
    {
        _options = options.Value;
        _policies = policies;
        _time = time;
        _logger = logger;
    }

    /// <summary>The configuration source registered with YARP.</summary>
    public IProxyConfigProvider Provider => _provider;

    /// <summary>The catalog revision YARP currently serves; -1 before the first snapshot.</summary>
    public long ServedRevision => Interlocked.Read(ref _servedRevision);

    /// <summary>API routes in the served revision.</summary>
    public int ServedApiRouteCount => Volatile.Read(ref _servedApiRoutes);

    /// <summary>The config version of each API the proxy serves (its last good one when the current was refused).</summary>
    public IReadOnlyDictionary<string, long> ServedVersions => Volatile.Read(ref _servedVersions);

    /// <summary>Raised after the proxy starts serving a new snapshot (<see cref="ServedRevision"/>, <see cref="ServedVersions"/>).</summary>
    public event Action? Served;

    /// <summary>When the served revision was applied, or null before the first snapshot.</summary>
    public DateTimeOffset? AppliedAt => Interlocked.Read(ref _appliedAtUnixMs) is var ms and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Whether the catalog watch is currently connected.</summary>
    public bool WatchConnected
    {
        get => Volatile.Read(ref _watchConnected);
        set => Volatile.Write(ref _watchConnected, value);
    }

    /// <summary>API config versions this edge could not apply, each counted once.</summary>
    public long RejectedRouteVersions => Interlocked.Read(ref _rejectedRouteVersions);

    /// <summary>APIs the last snapshot serves at an earlier version, because their current one could not be applied.</summary>
    public int StaleApiRoutes => Volatile.Read(ref _staleApiRoutes);

    /// <summary>
    /// Replaces the API routes with those of <paramref name="config"/>. Each route's upstream
    /// policy (credentials, signing keys, CORS, transforms) is built here, once per snapshot, and published for
    /// forwarding before YARP sees the routes. A route this edge cannot apply (catalog validated
    /// it, so this means a catalog newer than the edge, or a bug) keeps its last good version, or
    /// is not served when it never had one; either way it is logged and counted once per version.
    /// </summary>
    public void Apply(GatewayConfig config)
    {
        lock (_applyGate)
        {
            var routes = new List<RouteConfig>(ManagementRoutes.Routes.Count + config.Routes.Count);
            var clusters = new List<ClusterConfig>(ManagementRoutes.Clusters.Count + config.Routes.Count);
            routes.AddRange(ManagementRoutes.Routes);
            clusters.AddRange(ManagementRoutes.Clusters);
            var slugs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var policies = new Dictionary<(string, string), UpstreamPolicy>();
            var good = new Dictionary<string, BuiltRoute>(StringComparer.Ordinal);
            var stale = 0;
            foreach (var source in config.Routes)
            {
                if (!TryBuild(source, out var built, out var problem))
                {
                    var kept = _lastGood.GetValueOrDefault(source.ApiId);
                    if (_reported.Add((source.ApiId, source.Version)))
                    {
                        Interlocked.Increment(ref _rejectedRouteVersions);
                        if (kept is null)
                        {
                            EdgeLog.RouteSkipped(_logger, source.ApiId, source.Slug, source.Version, problem);
                        }
                        else
                        {
                            EdgeLog.RouteKeptPrevious(_logger, source.ApiId, source.Version, problem, kept.Version);
                        }
                    }
                    if (kept is null)
                    {
                        continue;
                    }
                    built = kept;
                    stale++;
                }
                if (!slugs.Add(built.Slug))
                {
                    EdgeLog.RouteSkipped(_logger, source.ApiId, source.Slug, source.Version, "another API has the same slug");
                    continue;
                }
                good[source.ApiId] = built;
                routes.Add(built.Route);
                clusters.Add(built.Cluster);
                if (built.Policy is not null)
                {
                    policies[(source.ApiId, built.Policy.Fingerprint)] = built.Policy;
                }
            }
            _lastGood = good;
            Volatile.Write(ref _staleApiRoutes, stale);
            _policies.Publish(policies);
            EdgeLog.ConfigApplying(_logger, config.Revision, slugs.Count);
            _revisions.AddOrUpdate(routes, new Snapshot(config.Revision, slugs.Count,
                good.ToDictionary(g => g.Key, g => g.Value.Version, StringComparer.Ordinal)));
            _provider.Update(routes, clusters, config.Revision.ToString(CultureInfo.InvariantCulture));
        }
    }

    private bool TryBuild(GatewayRoute source, [NotNullWhen(true)] out BuiltRoute? built, [NotNullWhen(false)] out string? problem)
    {
        built = null;
        if (!UpstreamPolicy.TryCreate(source, out var policy, out problem))
        {
            return false;
        }
        var applied = policy.IsEmpty ? null : policy;
        if (!ApiRoutes.TryCreate(source, _options.DefaultUpstreamTimeout, out var route, out var cluster, out problem, applied?.Fingerprint))
        {
            return false;
        }
        built = new BuiltRoute(source.Version, source.Slug, route, cluster, applied);
        return true;
    }

    void IConfigChangeListener.ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        foreach (var config in proxyConfigs)
        {
            // With a destination resolver YARP hands listeners a wrapper whose RevisionId is not the
            // provider's, but whose Routes is the very list given to Update: recognise it by that.
            if (config.Routes is not null && _revisions.TryGetValue(config.Routes, out var applied))
            {
                Volatile.Write(ref _servedApiRoutes, applied.ApiRoutes);
                Volatile.Write(ref _servedVersions, applied.Versions);
                Interlocked.Exchange(ref _servedRevision, applied.Revision);
                Interlocked.Exchange(ref _appliedAtUnixMs, _time.GetUtcNow().ToUnixTimeMilliseconds());
                Served?.Invoke();
            }
        }
    }

    void IConfigChangeListener.ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
        foreach (var config in proxyConfigs)
        {
            var revision = config.Routes is not null && _revisions.TryGetValue(config.Routes, out var rejected) ? rejected.Revision : -1;
            EdgeLog.ConfigRejected(_logger, revision, ServedRevision, exception);
        }
    }

    void IConfigChangeListener.ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    void IConfigChangeListener.ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    private sealed record Snapshot(long Revision, int ApiRoutes, Dictionary<string, long> Versions);

    /// <summary>One API's route as built from one of its config versions.</summary>
    private sealed record BuiltRoute(long Version, string Slug, RouteConfig Route, ClusterConfig Cluster, UpstreamPolicy? Policy);
}
