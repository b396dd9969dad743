using Microsoft.Extensions.Hosting;

namespace Veil.ServiceDefaults.Grpc;

/// <summary>
/// Recent changes of one kind (key revocations, subscription cancellations), each numbered with a
/// revision that increases by one per change, for server-streaming watch RPCs that push
/// invalidations to the edges. Writers publish after their transaction commits and before they
/// answer, so by the time a caller sees the answer the change is on its way to every watcher.
/// Watchers wait on an in-process signal (no polling). The last <see cref="Capacity"/> changes are
/// kept; a watcher that falls further behind is told to resync (flush everything) rather than
/// being sent a partial list. Revisions live in memory: a restarted service starts again at 0 and
/// every reconnecting watcher begins with a resync anyway.
/// </summary>
public sealed class ChangeFeed<T>
{
    /// <summary>Changes kept for watchers that are behind.</summary>
    public const int Capacity = 4096;

    private readonly Lock _gate = new();
    private readonly T[] _ring = new T[Capacity];
    private long _revision;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The revision of the newest change (0 before the first).</summary>
    public long Revision
    {
        get
        {
            lock (_gate)
            {
                return _revision;
            }
        }
    }

    /// <summary>Appends <paramref name="change"/> and wakes every watcher; returns its revision.</summary>
    public long Publish(T change)
    {
        TaskCompletionSource changed;
        long revision;
        lock (_gate)
        {
            revision = ++_revision;
            _ring[revision % Capacity] = change;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.SetResult();
        return revision;
    }

    /// <summary>
    /// The changes after <paramref name="revision"/> up to the newest, waiting for one if there is
    /// none yet. <see cref="ChangeBatch{T}.Resync"/> is set (and the list empty) when some of them
    /// are no longer kept.
    /// </summary>
    public async Task<ChangeBatch<T>> WaitNewerThanAsync(long revision, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_revision > revision)
                {
                    if (_revision - revision > Capacity || revision < 0)
                    {
                        return new ChangeBatch<T>(_revision, Resync: true, []);
                    }
                    var changes = new T[_revision - revision];
                    for (var r = revision + 1; r <= _revision; r++)
                    {
                        changes[r - revision - 1] = _ring[r % Capacity];
                    }
                    return new ChangeBatch<T>(_revision, Resync: false, changes);
                }
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Serves one watch stream: first a resync marker at the current revision (the watcher cannot
    /// know what it missed while disconnected), then every later change as it is published. Ends
    /// normally when the watcher hangs up or the host stops.
    /// </summary>
    /// <param name="write">Writes one batch as the stream's message type.</param>
    /// <param name="lifetime">The host's lifetime: its stopping token ends the stream, so the host stops now.</param>
    /// <param name="callCancelled">The call's token.</param>
    public async Task ServeAsync(Func<ChangeBatch<T>, CancellationToken, Task> write, IHostApplicationLifetime lifetime, CancellationToken callCancelled)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(callCancelled, lifetime.ApplicationStopping);
        try
        {
            var sent = Revision;
            await write(new ChangeBatch<T>(sent, Resync: true, []), stop.Token);
            while (true)
            {
                var batch = await WaitNewerThanAsync(sent, stop.Token);
                await write(batch, stop.Token);
                sent = batch.Revision;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The watcher hung up or the service is stopping: a normal end of the stream.
        }
        catch (IOException) when (callCancelled.IsCancellationRequested)
        {
            // The connection went away mid-write.
        }
    }
}

/// <summary>Changes up to <paramref name="Revision"/>, or (when <paramref name="Resync"/>) "flush everything".</summary>
public sealed record ChangeBatch<T>(long Revision, bool Resync, IReadOnlyList<T> Changes);
