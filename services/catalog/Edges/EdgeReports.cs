using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Veil.Catalog.V1;

namespace Veil.Catalog.Edges;

/// <summary>
/// What each connected edge reports on its config stream: the revision its proxy serves and the
/// config version of every API it serves, kept per stream in memory (edges report everything again
/// on every new stream, so a catalog restart loses nothing). An edge is live while its stream is
/// open and its last report is younger than <see cref="CatalogOptions.EdgeReportTimeout"/>.
/// </summary>
public sealed class EdgeReports(TimeProvider time, IOptionsMonitor<CatalogOptions> options)
{
    private readonly TimeProvider _time = time;
    private readonly ConcurrentDictionary<long, EdgeState> _streams = new();
    private long _nextStream;

    /// <summary>Starts following one stream; dispose the result when the stream ends.</summary>
    public Stream Open() => new(this, Interlocked.Increment(ref _nextStream));

    /// <summary>Each live edge's state for <paramref name="apiId"/>: one per edge name, its newest stream.</summary>
    public List<EdgeDeployment> Deployment(string apiId)
    {
        var now = _time.GetUtcNow();
        var timeout = options.CurrentValue.EdgeReportTimeout;
        return _streams.Values
            .Select(s => s.Read())
            .Where(s => s.EdgeId.Length > 0 && now - s.LastReport <= timeout)
            .GroupBy(s => s.EdgeId, StringComparer.Ordinal)
            .Select(g => g.MaxBy(s => s.LastReport)!)
            .OrderBy(s => s.EdgeId, StringComparer.Ordinal)
            .Select(s => new EdgeDeployment
            {
                EdgeId = s.EdgeId,
                ServedVersion = s.Versions.GetValueOrDefault(apiId),
                ServedRevision = s.Revision,
                LastReportTime = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(s.LastReport),
            })
            .ToList();
    }

    /// <summary>The reports of one open stream.</summary>
    public sealed class Stream(EdgeReports owner, long id) : IDisposable
    {
        /// <summary>The edge's name once it has sent one.</summary>
        public string EdgeId => owner._streams.TryGetValue(id, out var state) ? state.Read().EdgeId : "";

        /// <summary>Applies one report: a full one replaces what the stream served, a partial one updates it.</summary>
        public void Report(WatchGatewayConfigRequest report, string edgeId)
        {
            var state = owner._streams.GetOrAdd(id, _ => new EdgeState());
            state.Apply(report, edgeId, owner._time.GetUtcNow());
        }

        public void Dispose() => owner._streams.TryRemove(id, out _);
    }

    private sealed class EdgeState
    {
        private readonly Lock _gate = new();
        private Snapshot _current = new("", -1, DateTimeOffset.MinValue, new Dictionary<string, long>(StringComparer.Ordinal));

        public Snapshot Read()
        {
            lock (_gate)
            {
                return _current;
            }
        }

        public void Apply(WatchGatewayConfigRequest report, string edgeId, DateTimeOffset now)
        {
            lock (_gate)
            {
                // Copy on write: readers hold the snapshot they read.
                var versions = report.Full ? new Dictionary<string, long>(StringComparer.Ordinal)
                    : report.Routes.Count == 0 ? _current.Versions // a heartbeat
                    : new Dictionary<string, long>(_current.Versions, StringComparer.Ordinal);
                foreach (var route in report.Routes)
                {
                    if (route.Version > 0)
                    {
                        versions[route.ApiId] = route.Version;
                    }
                    else
                    {
                        versions.Remove(route.ApiId);
                    }
                }
                _current = new Snapshot(edgeId, report.ServedRevision, now, versions);
            }
        }
    }

    private sealed record Snapshot(string EdgeId, long Revision, DateTimeOffset LastReport, Dictionary<string, long> Versions);
}
