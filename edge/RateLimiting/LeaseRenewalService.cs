using System.Diagnostics;
using Grpc.Core;
using Veil.RateLimit.V1;

namespace Veil.Edge.RateLimiting;

/// <summary>
/// Renews leases in the background: drains the renewal queue into AcquireLease calls of up to 100
/// buckets (one attempt each, with a tight deadline, never retried: a retried AcquireLease takes
/// tokens twice), applies the grants, and turns any failure into degraded mode. While degraded it
/// probes the service and leaves degraded mode by itself once it answers. Also evicts idle buckets.
/// </summary>
internal sealed class LeaseRenewalService(
    EdgeRateLimiter limiter,
    RateLimitService.RateLimitServiceClient client,
    RateLimitMetrics metrics) : BackgroundService
{
    private const int MaxBatch = 100;
    // Calls in flight at once; more renewals wait in the queue and join the next batch.
    private readonly SemaphoreSlim _inFlight = new(8, 8);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(RenewAsync(stoppingToken), ProbeAsync(stoppingToken), SweepAsync(stoppingToken));

    private async Task RenewAsync(CancellationToken stoppingToken)
    {
        var reader = limiter.Renewals;
        var batch = new List<LeasedBucket>(MaxBatch);
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                await _inFlight.WaitAsync(stoppingToken).ConfigureAwait(false);
                while (batch.Count < MaxBatch && reader.TryRead(out var bucket))
                {
                    batch.Add(bucket);
                }
                if (batch.Count == 0)
                {
                    _inFlight.Release();
                    continue;
                }
                var buckets = batch.ToArray();
                batch.Clear();
                _ = SendAsync(buckets);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(LeasedBucket[] buckets)
    {
        try
        {
            var epoch = limiter.Epoch;
            var sentAt = Stopwatch.GetTimestamp();
            var request = new AcquireLeaseRequest();
            foreach (var bucket in buckets)
            {
                var spec = bucket.Spec;
                request.Leases.Add(new LeaseRequest
                {
                    Bucket = bucket.Id,
                    RatePerSecond = spec.Rate,
                    Burst = spec.Burst,
                    RequestedTokens = bucket.BeginRequest(sentAt),
                });
            }
            AcquireLeaseResponse response;
            try
            {
                response = await client.AcquireLeaseAsync(request,
                    deadline: DateTime.UtcNow + limiter.Options.AcquireTimeout).ResponseAsync.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RpcException or InvalidOperationException or HttpRequestException)
            {
                // Unavailable, deadline exceeded, no endpoint known: degrade at once, never retry.
                metrics.Renewal(ok: false, sentAt);
                limiter.EnterDegraded(Reason(ex), ex);
                foreach (var bucket in buckets)
                {
                    bucket.Failed();
                }
                return;
            }
            metrics.Renewal(ok: true, sentAt);
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < buckets.Length && i < response.Results.Count; i++)
            {
                var result = response.Results[i];
                buckets[i].Granted(sentAt, now, epoch, result.GrantedTokens, result.LeaseTtlMs, result.TokensRemaining, result.RetryAfterMs);
            }
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private async Task ProbeAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(limiter.Options.ProbeInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!limiter.IsDegraded)
                {
                    continue;
                }
                var sentAt = Stopwatch.GetTimestamp();
                try
                {
                    // Asking for 0 tokens takes nothing; it only proves the store decides again.
                    await client.AcquireLeaseAsync(new AcquireLeaseRequest
                    {
                        Leases = { new LeaseRequest { Bucket = "probe:edge", RatePerSecond = 1, Burst = 1, RequestedTokens = 0 } },
                    }, deadline: DateTime.UtcNow + limiter.Options.AcquireTimeout, cancellationToken: stoppingToken).ResponseAsync.ConfigureAwait(false);
                    metrics.Renewal(ok: true, sentAt);
                    limiter.LeaveDegraded();
                }
                catch (Exception ex) when (ex is RpcException or InvalidOperationException or HttpRequestException)
                {
                    if (stoppingToken.IsCancellationRequested)
                    {
                        // Shutting down: the probe's call was cancelled with the host, not a store failure.
                        return;
                    }
                    metrics.Renewal(ok: false, sentAt);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SweepAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, limiter.Options.IdleTimeout.Ticks / 2)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                limiter.EvictIdle();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static string Reason(Exception ex) => ex switch
    {
        RpcException rpc => rpc.StatusCode.ToString(),
        _ => ex.GetType().Name,
    };

    // _inFlight is not disposed: renewals still completing while the host stops release it in their
    // finally blocks, and a SemaphoreSlim without a wait handle holds nothing to free.
}
