using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Grpc;
using Veil.Subscriptions.Data;
using Veil.Subscriptions.Grpc;
using Veil.Subscriptions.V1;

namespace Veil.Subscriptions.Lifecycle;

/// <summary>
/// Cancels a deleted API's active subscriptions at its sunset, by this service's clock: each with
/// <c>canceled_at</c> = the sunset, so billing invoices it up to that date like any cancellation
/// (docs/billing.md, "Cancellation"), and pushes each cancellation to the edges. Waits for the
/// earliest sunset still to come, at most <see cref="SubscriptionsOptions.SunsetCheckInterval"/>;
/// a stored lifecycle wakes it (a new, earlier sunset). The store
/// makes it idempotent and restart-safe: what is due and not done is done on the next round.
/// </summary>
public sealed class ApiSunsetWorker(SubscriptionsStore store, ChangeFeed<SubscriptionChange> changes, SubscriptionsMetrics metrics, TimeProvider time,
    IOptionsMonitor<SubscriptionsOptions> options, ILogger<ApiSunsetWorker> logger) : BackgroundService
{
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Looks again now (a lifecycle was stored).</summary>
    public void Wake() => Interlocked.Exchange(ref _wake, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wake = Volatile.Read(ref _wake).Task;
                foreach (var (api, canceled) in await store.CancelAtSunsetAsync(stoppingToken))
                {
                    foreach (var subscription in canceled)
                    {
                        changes.Publish(SubscriptionsMapping.ToChange(subscription, SubscriptionChangeKind.Canceled));
                        metrics.Changed("canceled_at_sunset");
                    }
                    SubscriptionsLog.CanceledAtSunset(logger, api.ApiId, canceled.Count, DateTimeOffset.FromUnixTimeMilliseconds(api.SunsetTime));
                }
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var delay = options.CurrentValue.SunsetCheckInterval;
                if (await store.NextSunsetAsync(stoppingToken) is { } next && DateTimeOffset.FromUnixTimeMilliseconds(next) - time.GetUtcNow() is var untilNext && untilNext < delay)
                {
                    delay = untilNext > TimeSpan.Zero ? untilNext : TimeSpan.Zero;
                }
                await Task.WhenAny(wake, Task.Delay(delay, time, stop.Token));
                await stop.CancelAsync();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SubscriptionsLog.SunsetFailed(logger, ex);
                await Task.Delay(TimeSpan.FromMinutes(1), time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
