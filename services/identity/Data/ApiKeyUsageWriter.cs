using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Veil.Identity.Data;

/// <summary>
/// Writes API keys' coarse <c>last_used_at</c> off ValidateApiKey's path: the RPC only notes the key
/// id in memory (never waits, never fails), and this background loop writes every noted key in one
/// transaction, then waits for the next note. ValidateApiKey notes a key only when its stored time
/// is older than the current period, so each key costs at most one write per period
/// (<see cref="ApiKeyOptions.LastUsedPrecision"/>, 1 h) however often it is used.
/// </summary>
internal sealed class ApiKeyUsageWriter(IdentityStore store, ILogger<ApiKeyUsageWriter> logger) : BackgroundService
{
    // Last-used is a convenience, never worth unbounded memory: past this many pending keys, notes are dropped.
    private const int MaxPending = 100_000;

    private readonly ConcurrentDictionary<string, long> _pending = new(StringComparer.Ordinal);
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Notes that <paramref name="keyId"/> was used in the period starting at <paramref name="periodStartMs"/>.</summary>
    public void Record(string keyId, long periodStartMs)
    {
        if (_pending.Count >= MaxPending && !_pending.ContainsKey(keyId))
        {
            return;
        }
        _pending.AddOrUpdate(keyId, periodStartMs, (_, existing) => Math.Max(existing, periodStartMs));
        _wake.Writer.TryWrite(true);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await _wake.Reader.WaitToReadAsync(stoppingToken))
            {
                _wake.Reader.TryRead(out _);
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is still pending is written once more below, with a short bound.
        }
        using var last = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await FlushAsync(last.Token);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var batch = new List<(string KeyId, long UsedAtMs)>();
        foreach (var keyId in _pending.Keys)
        {
            if (_pending.TryRemove(keyId, out var usedAt))
            {
                batch.Add((keyId, usedAt));
            }
        }
        if (batch.Count == 0)
        {
            return;
        }
        try
        {
            await store.RecordApiKeysUsedAsync(batch, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Lost notes come back with the key's next use: the stored time is still old.
            IdentityLog.ApiKeyLastUsedWriteFailed(logger, batch.Count, ex);
        }
        catch (OperationCanceledException)
        {
            IdentityLog.ApiKeyLastUsedWriteFailed(logger, batch.Count, null);
        }
    }
}
