using Veil.Catalog.Data;

namespace Veil.Catalog;

/// <summary>
/// Ends signing-secret overlaps on time. The gateway config leaves out a previous signing secret
/// once its overlap has ended (by catalog's clock), but nothing else changes at that moment, so
/// this service waits for the earliest end among the current versions, then publishes a new
/// revision; it also wakes on every published change (a rotation may bring an earlier end).
/// </summary>
internal sealed class SigningOverlapExpiry(CatalogStore store, GatewayConfigFeed feed, TimeProvider time, ILogger<SigningOverlapExpiry> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seen = -1L;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var current = await feed.WaitNewerThanAsync(seen, stoppingToken);
                seen = current.Revision;
                var next = await store.NextSigningOverlapEndAsync(stoppingToken);
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var changed = feed.WaitNewerThanAsync(seen, wake.Token);
                if (next is { } end)
                {
                    var delay = DateTimeOffset.FromUnixTimeMilliseconds(end) - time.GetUtcNow();
                    var due = Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, time, wake.Token);
                    var first = await Task.WhenAny(changed, due);
                    await wake.CancelAsync();
                    if (first == due && due.IsCompletedSuccessfully)
                    {
                        var config = await store.BumpRevisionAsync(stoppingToken);
                        feed.Publish(config);
                        CatalogLog.SigningOverlapEnded(logger, config.Revision);
                    }
                }
                else
                {
                    await changed;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                CatalogLog.SigningOverlapFailed(logger, ex);
                await Task.Delay(TimeSpan.FromMinutes(1), time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
