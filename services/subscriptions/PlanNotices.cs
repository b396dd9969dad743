using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Subscriptions.Data;
using Veil.Usage.V1;

namespace Veil.Subscriptions;

/// <summary>
/// Hands the queued <c>plan.changed</c> notices (written in each UpdatePlan's transaction) to
/// usage's <c>NotifyConsumers</c>, which queues each (type, id) once in its webhook outbox. Runs
/// when woken by an UpdatePlan and every <see cref="SubscriptionsOptions.NoticeRetryInterval"/>;
/// when usage does not answer the notices stay queued and go at the next pass, so every current
/// subscriber is notified at least once (and, by the deterministic id, queued once). Without
/// <c>services:usage:grpc:0</c> nothing is sent (logged once at start); the notices wait.
/// </summary>
public sealed class PlanNotices(SubscriptionsStore store, IServiceProvider services, TimeProvider time, IOptionsMonitor<SubscriptionsOptions> options,
    SubscriptionsMetrics metrics, ILogger<PlanNotices> logger) : BackgroundService
{
    public const string NoticeType = "plan.changed";
    private const int Batch = 500;

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Asks for a pass soon (after an UpdatePlan queued notices). Never blocks.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<UsageService.UsageServiceClient>() is null)
        {
            SubscriptionsLog.PlanNoticesNotSent(logger);
            return;
        }
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Drained before the pass: a wake during it causes one more pass, so no notice waits for the timer.
            while (_wake.Reader.TryRead(out _))
            {
            }
            try
            {
                await SendPendingAsync(stoppingToken);
                if (failures > 0)
                {
                    SubscriptionsLog.PlanNoticesBack(logger, failures);
                    failures = 0;
                }
            }
            catch (RpcException ex) when (!stoppingToken.IsCancellationRequested)
            {
                metrics.PlanNoticesFailed();
                if (failures++ == 0)
                {
                    SubscriptionsLog.PlanNoticesUnavailable(logger, ex.StatusCode, ex);
                }
            }
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            try
            {
                await Task.WhenAny(Task.Delay(options.CurrentValue.NoticeRetryInterval, time, cancel.Token),
                    _wake.Reader.WaitToReadAsync(cancel.Token).AsTask());
            }
            finally
            {
                await cancel.CancelAsync();
            }
        }
    }

    /// <summary>Sends every queued notice, a batch per call, marking each batch once usage has it.</summary>
    private async Task SendPendingAsync(CancellationToken cancellationToken)
    {
        // Transient like the typed gRPC client it is, so the client factory can rotate its handler.
        var usage = services.GetRequiredService<UsageService.UsageServiceClient>();
        while (true)
        {
            var pending = await store.PendingNoticesAsync(Batch, cancellationToken);
            if (pending.Count == 0)
            {
                return;
            }
            var request = new NotifyConsumersRequest();
            request.Notices.AddRange(pending.Select(n => new ConsumerNotice
            {
                Id = n.Id,
                ConsumerId = n.ConsumerId,
                SubscriptionId = n.SubscriptionId,
                Type = NoticeType,
                DataJson = n.DataJson,
            }));
            var response = await usage.NotifyConsumersAsync(request, deadline: DateTime.UtcNow + options.CurrentValue.UsageTimeout,
                cancellationToken: cancellationToken);
            await store.MarkNoticesSentAsync(pending.Select(n => n.Id), cancellationToken);
            metrics.PlanNoticesSent(pending.Count);
            SubscriptionsLog.PlanNoticesSent(logger, pending.Count, response.Queued);
        }
    }
}
