using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;
using Veil.Usage.Data;
using Veil.Usage.V1;

namespace Veil.Usage;

/// <summary>
/// The set of exhausted hard-capped subscriptions, shared by every WatchQuotaStates stream.
/// Recomputed from the cycle counters when an ingest batch reaches a hard cap, when the earliest
/// exhausted cycle ends (its subscription leaves the set), and every
/// <see cref="UsageOptions.QuotaRefreshInterval"/> as a safety net; published only when the set
/// changes. All times come from <see cref="TimeProvider"/>, so tests move cycles with a fake clock.
/// </summary>
public sealed class QuotaStateFeed : BackgroundService
{
    private readonly UsageStore _store;
    private readonly TimeProvider _time;
    private readonly UsageMetrics _metrics;
    private readonly IOptions<UsageOptions> _options;
    private readonly ILogger<QuotaStateFeed> _logger;
    private readonly Lock _gate = new();
    private readonly Channel<bool> _refreshRequests = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private QuotaStates? _latest;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public QuotaStateFeed(UsageStore store, TimeProvider time, UsageMetrics metrics, IOptions<UsageOptions> options, ILogger<QuotaStateFeed> logger)
    {
        _store = store;
        _time = time;
        _metrics = metrics;
        _options = options;
        _logger = logger;
        store.Committed += effects =>
        {
            if (effects.HardCapReached)
            {
                RequestRefresh();
            }
        };
    }

    /// <summary>Asks for a recomputation soon (after a batch reached a hard cap). Never blocks.</summary>
    public void RequestRefresh() => _refreshRequests.Writer.TryWrite(true);

    /// <summary>The first published set with a revision above <paramref name="revision"/>; waits for one if needed.</summary>
    public async Task<QuotaStates> WaitNewerThanAsync(long revision, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_latest is not null && _latest.Revision > revision)
                {
                    return _latest;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Drain before recomputing: a request that arrives during the work stays queued and
            // causes one more pass, so no change is ever missed.
            while (_refreshRequests.Reader.TryRead(out _))
            {
            }
            long? nextReset;
            try
            {
                nextReset = await RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                UsageLog.QuotaRefreshFailed(_logger, ex);
                nextReset = null;
            }
            await WaitForWorkAsync(nextReset, stoppingToken);
        }
    }

    private async Task WaitForWorkAsync(long? nextResetMs, CancellationToken stoppingToken)
    {
        var wait = _options.Value.QuotaRefreshInterval;
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (nextResetMs is { } reset)
        {
            // +1 ms: the cycle end is exclusive, so at exactly that instant the cycle is over.
            var untilReset = TimeSpan.FromMilliseconds(Math.Max(0, reset - now + 1));
            wait = untilReset < wait ? untilReset : wait;
        }
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var delay = Task.Delay(wait, _time, cancel.Token);
        // The clock may have moved while the timer was being set up (a test's fake clock jumps).
        if (nextResetMs is { } due && _time.GetUtcNow().ToUnixTimeMilliseconds() >= due)
        {
            return;
        }
        try
        {
            await Task.WhenAny(delay, _refreshRequests.Reader.WaitToReadAsync(cancel.Token).AsTask());
        }
        finally
        {
            await cancel.CancelAsync();
        }
        stoppingToken.ThrowIfCancellationRequested();
    }

    /// <summary>Recomputes the set, publishes it when it changed, and returns the earliest cycle end in it.</summary>
    private async Task<long?> RefreshAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var rows = await _store.LoadExhaustedAsync(now.ToUnixTimeMilliseconds(), cancellationToken);
        _metrics.ExhaustedSubscriptions(rows.Count);
        TaskCompletionSource? changed = null;
        QuotaStates? published = null;
        lock (_gate)
        {
            if (_latest is null || !SameSet(_latest, rows))
            {
                published = new QuotaStates
                {
                    Revision = (_latest?.Revision ?? 0) + 1,
                    AsOf = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(now),
                };
                published.Exhausted.AddRange(rows.Select(r => new ExhaustedSubscription
                {
                    SubscriptionId = r.SubscriptionId,
                    ConsumerId = r.ConsumerId,
                    ApiId = r.ApiId,
                    CycleStart = UnixMs.ToTimestamp(r.CycleStartMs),
                    CycleEnd = UnixMs.ToTimestamp(r.CycleEndMs),
                    Used = r.Used,
                    MonthlyQuota = r.MonthlyQuota,
                }));
                _latest = published;
                changed = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        if (published is not null)
        {
            changed!.SetResult();
            UsageLog.QuotaStatesChanged(_logger, published.Revision, published.Exhausted.Count);
        }
        return rows.Count == 0 ? null : rows.Min(r => r.CycleEndMs);
    }

    // The same subscriptions in the same cycles: a growing `used` alone is not a change.
    private static bool SameSet(QuotaStates current, List<ExhaustedRow> rows) =>
        current.Exhausted.Count == rows.Count &&
        current.Exhausted.Zip(rows).All(pair =>
            pair.First.SubscriptionId == pair.Second.SubscriptionId &&
            pair.First.CycleStart.ToUnixMilliseconds() == pair.Second.CycleStartMs);
}
