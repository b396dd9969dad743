using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Edge.Dependencies;
using Veil.ServiceDefaults.Retry;
using Veil.Usage.V1;

namespace Veil.Edge.Quota;

/// <summary>
/// Follows usage's <c>WatchQuotaStates</c> stream: the set of hard-capped subscriptions whose cycle
/// is exhausted. Each message replaces the set. While the stream is down the last known set stays
/// in force (a subscription still leaves it when its cycle ends) and the watch reconnects with
/// exponential backoff.
/// </summary>
internal sealed class QuotaWatcher(UsageService.UsageServiceClient usage, IOptions<QuotaOptions> options, IOptions<EdgeOptions> edge,
    ILogger<QuotaWatcher> logger) : BackgroundService
{
    private volatile Dictionary<string, ExhaustedSubscription> _exhausted = new(StringComparer.Ordinal);
    private volatile bool _connected;

    public int Count => _exhausted.Count;

    public bool Connected => _connected;

    /// <summary>The exhausted cycle of <paramref name="subscriptionId"/>, if it is in the last known set.</summary>
    /// <remarks>An empty set (the usual case) answers without hashing the id: Dictionary skips the hash when it has no buckets.</remarks>
    public bool TryGetExhausted(string subscriptionId, out ExhaustedSubscription exhausted) =>
        _exhausted.TryGetValue(subscriptionId, out exhausted!);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var edgeId = edge.Value.EdgeId ?? Environment.MachineName;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            string status;
            try
            {
                using var call = usage.WatchQuotaStates(new WatchQuotaStatesRequest { EdgeId = edgeId }, cancellationToken: stoppingToken);
                long revision = -1;
                await foreach (var states in call.ResponseStream.ReadAllAsync(stoppingToken))
                {
                    if (states.Revision < revision)
                    {
                        continue;
                    }
                    var first = revision < 0;
                    revision = states.Revision;
                    _exhausted = states.Exhausted.ToDictionary(e => e.SubscriptionId, StringComparer.Ordinal);
                    _connected = true;
                    failures = 0;
                    if (first)
                    {
                        QuotaLog.QuotaWatchConnected(logger, states.Exhausted.Count, states.Revision);
                    }
                }
                status = "stream ended";
            }
            catch (Exception ex) when (Stopping.Cancelled(ex, stoppingToken))
            {
                return;
            }
            catch (RpcException ex) when (!stoppingToken.IsCancellationRequested)
            {
                status = ex.StatusCode.ToString();
            }
            _connected = false;
            failures++;
            // Every edge reconnects to usage at once after it restarts: jittered, like the other watches.
            var delay = new Backoff(options.Value.QuotaWatchBackoffInitial, options.Value.QuotaWatchBackoffMax).Jittered(failures);
            QuotaLog.QuotaWatchLost(logger, status, _exhausted.Count, delay);
            try
            {
                await Task.Delay(delay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
