using System.Globalization;
using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Subscriptions.Data;
using Veil.Usage.V1;

namespace Veil.Subscriptions.Lifecycle;

/// <summary>
/// Tells the subscribers of a deprecated or deleted API (docs/subscriptions.md): one webhook notice
/// per active subscription, <c>api.deprecated</c> or <c>api.retiring</c>, handed to usage's
/// <c>NotifyConsumers</c> (its outbox signs and delivers them, at least once). Each notice's id is
/// deterministic (<c>api.deprecated:{api}:{subscription}:{deprecate_time}</c>,
/// <c>api.retiring:{api}:{subscription}:{sunset_time}</c>, unix ms), and usage queues one type and id
/// once, so a pass repeated after a failure or a restart sends nothing twice. A stored lifecycle
/// wakes it; what could not be handed over is tried again every
/// <see cref="SubscriptionsOptions.NoticeRetryInterval"/>. Without <c>services:usage:grpc:0</c>
/// nothing is sent (logged once at start).
/// </summary>
public sealed class ApiNoticeWorker(SubscriptionsStore store, IOptionsMonitor<SubscriptionsOptions> options, TimeProvider time,
    ILogger<ApiNoticeWorker> logger, UsageService.UsageServiceClient? usage = null) : BackgroundService
{
    private const int PageSize = 500;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Looks again now (a lifecycle was stored).</summary>
    public void Wake() => Interlocked.Exchange(ref _wake, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (usage is null)
        {
            SubscriptionsLog.ApiNoticesNotSent(logger);
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wake = Volatile.Read(ref _wake).Task;
                foreach (var api in await store.ListUnnotifiedLifecyclesAsync(100, stoppingToken))
                {
                    if (!await NotifyAsync(usage, api, stoppingToken))
                    {
                        break;
                    }
                }
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(wake, Task.Delay(options.CurrentValue.NoticeRetryInterval, time, stop.Token));
                await stop.CancelAsync();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                SubscriptionsLog.ApiNoticesFailed(logger, ex);
                await Task.Delay(options.CurrentValue.NoticeRetryInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Every active subscriber of <paramref name="api"/>, page by page; false when usage did not take a page.</summary>
    private async Task<bool> NotifyAsync(UsageService.UsageServiceClient client, ApiLifecycleRecord api, CancellationToken cancellationToken)
    {
        var (type, at) = api.State == ApiLifecycleRecord.Deprecated ? ("api.deprecated", api.DeprecateTime) : ("api.retiring", api.SunsetTime);
        var data = Data(api);
        var after = "";
        var sent = 0;
        while (true)
        {
            var page = await store.ListActiveSubscriptionsOfApiAsync(api.ApiId, after, PageSize, cancellationToken);
            if (page.Count == 0)
            {
                break;
            }
            var request = new NotifyConsumersRequest();
            request.Notices.AddRange(page.Select(s => new ConsumerNotice
            {
                Id = string.Create(CultureInfo.InvariantCulture, $"{type}:{api.ApiId}:{s.Id}:{at}"),
                ConsumerId = s.ConsumerId,
                SubscriptionId = s.Id,
                Type = type,
                DataJson = data,
            }));
            try
            {
                await client.NotifyConsumersAsync(request, deadline: DateTime.UtcNow + options.CurrentValue.UsageTimeout, cancellationToken: cancellationToken);
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                SubscriptionsLog.ApiNoticesRefused(logger, api.ApiId, ex.StatusCode, ex);
                return false;
            }
            sent += page.Count;
            after = page[^1].Id;
        }
        await store.MarkLifecycleNotifiedAsync(api.ApiId, api.Revision, cancellationToken);
        SubscriptionsLog.ApiNoticesSent(logger, api.ApiId, type, sent);
        return true;
    }

    /// <summary>The notice's data: the API, when it was deprecated, its sunset and the deprecation link (when set).</summary>
    private static string Data(ApiLifecycleRecord api)
    {
        var data = new JsonObject { ["apiId"] = api.ApiId };
        if (api.DeprecateTime > 0)
        {
            data["deprecateTime"] = Rfc3339(api.DeprecateTime);
        }
        if (api.SunsetTime > 0)
        {
            data["sunsetTime"] = Rfc3339(api.SunsetTime);
        }
        if (api.DeprecationLink.Length > 0)
        {
            data["link"] = api.DeprecationLink;
        }
        return data.ToJsonString();
    }

    private static string Rfc3339(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
