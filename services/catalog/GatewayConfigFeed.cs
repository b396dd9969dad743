using Veil.Catalog.Data;
using Veil.Catalog.V1;

namespace Veil.Catalog;

/// <summary>
/// The latest committed gateway config, shared by every WatchGatewayConfig stream. Writers publish
/// the snapshot they read inside their own transaction right after commit; watchers wait on an
/// in-process signal (no polling), so a change reaches every connected edge in one write. Snapshots
/// are immutable once published and never go backwards in revision: when two writers race, the
/// later revision wins whichever publishes first. A slow watcher skips straight to the newest
/// snapshot, which is safe because every snapshot is the whole table.
/// </summary>
public sealed class GatewayConfigFeed(CatalogStore store)
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _load = new(1, 1);
    private GatewayConfig? _latest;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Makes <paramref name="config"/> current unless a newer revision already is.</summary>
    public void Publish(GatewayConfig config)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (_latest is not null && _latest.Revision >= config.Revision)
            {
                return;
            }
            _latest = config;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.SetResult();
    }

    /// <summary>The first snapshot with a revision above <paramref name="revision"/>; waits for one if needed.</summary>
    public async Task<GatewayConfig> WaitNewerThanAsync(long revision, CancellationToken cancellationToken)
    {
        await EnsureLoadedAsync(cancellationToken);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_latest!.Revision > revision)
                {
                    return _latest;
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    private async Task EnsureLoadedAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _latest) is not null)
        {
            return;
        }
        await _load.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref _latest) is null)
            {
                Publish(await store.LoadGatewayConfigAsync(cancellationToken));
            }
        }
        finally
        {
            _load.Release();
        }
    }
}
