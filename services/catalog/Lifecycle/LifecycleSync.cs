using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Catalog.Data;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.V1;

namespace Veil.Catalog.Lifecycle;

/// <summary>
/// Tells subscriptions about every API lifecycle change (SetApiLifecycle), so that it refuses new
/// subscriptions to a suspended or deleted API, cancels a deleted API's subscriptions at its sunset
/// and sends the deprecation notices. The RPC that made the change pushes it before answering
/// (<see cref="TryPushAsync"/>); what subscriptions has not acknowledged (it was down, the push
/// timed out, catalog restarted in between) is pushed again every
/// <see cref="CatalogLifecycleOptions.SyncRetryInterval"/> and at start, from the store's
/// <c>lifecycle_revision &gt; lifecycle_synced</c>. Subscriptions ignores a revision it already has,
/// so a repeated push is harmless. Without <c>services:subscriptions:grpc:0</c> nothing is pushed
/// (logged once at start).
/// </summary>
public sealed class LifecycleSync(CatalogStore store, IOptionsMonitor<CatalogLifecycleOptions> options, TimeProvider time,
    ILogger<LifecycleSync> logger, SubscriptionService.SubscriptionServiceClient? subscriptions = null) : BackgroundService
{
    private const int BatchSize = 100;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Pushes one change now; false (and retried in the background) when subscriptions did not take it.</summary>
    public async Task<bool> TryPushAsync(UnsyncedLifecycle change, CancellationToken cancellationToken)
    {
        if (subscriptions is null)
        {
            return true;
        }
        if (await PushAsync(subscriptions, change, cancellationToken))
        {
            return true;
        }
        Interlocked.Exchange(ref _wake, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return false;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (subscriptions is null)
        {
            CatalogLog.LifecycleSyncDisabled(logger);
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Taken before reading the store, so a wake-up during this round is not lost.
                var wake = Volatile.Read(ref _wake).Task;
                foreach (var change in await store.ListUnsyncedLifecyclesAsync(BatchSize, stoppingToken))
                {
                    if (!await PushAsync(subscriptions, change, stoppingToken))
                    {
                        break;
                    }
                }
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(wake, Task.Delay(options.CurrentValue.SyncRetryInterval, time, stop.Token));
                await stop.CancelAsync();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                CatalogLog.LifecycleSyncFailed(logger, ex);
                await Task.Delay(options.CurrentValue.SyncRetryInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task<bool> PushAsync(SubscriptionService.SubscriptionServiceClient client, UnsyncedLifecycle change, CancellationToken cancellationToken)
    {
        var lifecycle = change.Lifecycle;
        var request = new SetApiLifecycleRequest
        {
            ApiId = change.ApiId,
            State = (int)lifecycle.PushedState,
            DeprecationLink = lifecycle.DeprecationLink,
            Revision = change.Revision,
        };
        if (lifecycle.DeprecateTime > 0)
        {
            request.DeprecateTime = UnixMs.ToTimestamp(lifecycle.DeprecateTime);
        }
        if (lifecycle.SunsetTime > 0)
        {
            request.SunsetTime = UnixMs.ToTimestamp(lifecycle.SunsetTime);
        }
        try
        {
            await client.SetApiLifecycleAsync(request, deadline: DateTime.UtcNow + options.CurrentValue.SubscriptionsTimeout,
                cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            CatalogLog.LifecyclePushFailed(logger, change.ApiId, change.Revision, ex.StatusCode, ex);
            return false;
        }
        await store.MarkLifecycleSyncedAsync(change.ApiId, change.Revision, cancellationToken);
        CatalogLog.LifecyclePushed(logger, change.ApiId, change.Revision);
        return true;
    }
}
