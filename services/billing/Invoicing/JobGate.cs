namespace Veil.Billing.Invoicing;

/// <summary>
/// One billing job at a time in this process: the draft sync (with its finalisation) and
/// reconciliation, scheduled or manual, never interleave. Across replicas the store's conditional
/// writes inside immediate transactions keep them correct. Reads
/// (<see cref="DraftSync.RefreshDraftAsync"/>) do not wait for it.
/// </summary>
public sealed class JobGate
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Runs <paramref name="job"/> once no other job runs; waiting stops with <paramref name="cancellationToken"/>.</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> job, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await job(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc cref="RunAsync{T}"/>
    public Task RunAsync(Func<CancellationToken, Task> job, CancellationToken cancellationToken) =>
        RunAsync(async ct =>
        {
            await job(ct);
            return true;
        }, cancellationToken);
}
