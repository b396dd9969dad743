using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Veil.Identity.V1;
using Veil.ServiceDefaults.Data;
using Veil.Usage.Data;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Tells consumers, on their webhook, that an API key is about to expire: every
/// <see cref="UsageOptions.KeyExpiryNoticeOptions.Interval"/> it asks identity
/// (<c>ListExpiringApiKeys</c>) for the keys that expire within
/// <see cref="UsageOptions.KeyExpiryNoticeOptions.Lead"/> and queues one
/// <c>identity.api_key.expiring</c> notification per key and expire_time in the outbox, which the
/// <see cref="WebhookDispatcher"/> delivers (signed, retried, logged) like a quota notice. The
/// outbox's unique (type, dedup key) makes passes idempotent: a second pass, a restart or two
/// overlapping windows queue nothing twice. A pass that fails (identity unreachable) is logged and
/// the next interval asks again.
/// </summary>
public sealed class KeyExpiryNotifier(IServiceProvider services, UsageStore store, WebhookDispatcher dispatcher, UsageMetrics metrics,
    IOptions<UsageOptions> options, TimeProvider time, ILogger<KeyExpiryNotifier> logger) : BackgroundService
{
    /// <summary>The notification's <c>type</c>.</summary>
    public const string EventType = "identity.api_key.expiring";

    /// <summary>Delay of the first pass after start: identity, started with the fleet, is up by then.</summary>
    public static readonly TimeSpan FirstPassDelay = TimeSpan.FromMinutes(1);

    // Identity's bulk-list page (ListExpiringApiKeys allows up to 1000).
    private const int PageSize = 500;

    private static readonly JsonSerializerOptions PayloadJson = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly SemaphoreSlim _running = new(1, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.KeyExpiryNotices;
        if (!settings.Enabled)
        {
            UsageLog.KeyExpiryNoticesDisabled(logger);
            return;
        }
        await Task.Delay(FirstPassDelay < settings.Interval ? FirstPassDelay : settings.Interval, time, stoppingToken);
        while (true)
        {
            // Passes start an interval apart, however long one takes.
            var next = Task.Delay(settings.Interval, time, stoppingToken);
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                metrics.KeyExpiryPass(succeeded: false, 0);
                UsageLog.KeyExpiryPassFailed(logger, ex is RpcException rpc ? rpc.StatusCode.ToString() : ex.GetType().Name, settings.Interval, ex);
            }
            await next;
        }
    }

    /// <summary>
    /// One pass, now: every key expiring in (now, now + lead], page by page; returns how many
    /// notices were queued. Passes are serialised. Throws when identity does not answer; the pages
    /// queued before that stay queued.
    /// </summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            var settings = options.Value.KeyExpiryNotices;
            var now = time.GetUtcNow();
            var before = now + settings.Lead;
            // Transient like every typed gRPC client, so the client factory can rotate its handler.
            var identity = services.GetRequiredService<IdentityService.IdentityServiceClient>();
            var request = new ListExpiringApiKeysRequest
            {
                ExpireAfter = Timestamp.FromDateTimeOffset(now),
                ExpireBefore = Timestamp.FromDateTimeOffset(before),
                PageSize = PageSize,
            };
            var queued = 0;
            do
            {
                var page = await identity.ListExpiringApiKeysAsync(request, deadline: DateTime.UtcNow + settings.Timeout,
                    cancellationToken: cancellationToken);
                if (page.ApiKeys.Count > 0)
                {
                    var added = await store.QueueNotificationsAsync(page.ApiKeys.Select(k => Notice(k, now)).ToList(),
                        now.ToUnixTimeMilliseconds(), cancellationToken);
                    if (added.Count > 0)
                    {
                        queued += added.Count;
                        dispatcher.Wake();
                    }
                }
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);
            metrics.KeyExpiryPass(succeeded: true, queued);
            if (queued > 0)
            {
                UsageLog.KeyExpiryNoticesQueued(logger, queued, before);
            }
            return queued;
        }
        finally
        {
            _running.Release();
        }
    }

    private static NewNotification Notice(ExpiringApiKey key, DateTimeOffset now)
    {
        var id = ResourceIds.New("ntf");
        var expireTime = key.ExpireTime.ToDateTimeOffset();
        var payload = JsonSerializer.Serialize(new KeyExpiringPayload(
            id, EventType, now, key.AccountId, key.KeyId, key.Name, key.Prefix, expireTime,
            new RotateHint("POST", $"/v1/keys/{key.KeyId}:rotate")), PayloadJson);
        // Once per key and expire_time: the successor of a rotation is another key, with its own notice.
        return new NewNotification(id, EventType, key.AccountId, $"{key.KeyId}/{expireTime.ToUnixTimeMilliseconds()}", payload);
    }

    /// <summary>The JSON body POSTed to the consumer's webhook (camelCase, as every Veil JSON).</summary>
    internal sealed record KeyExpiringPayload(
        string Id, string Type, DateTimeOffset CreatedAt, string ConsumerId, string KeyId, string Name, string Prefix,
        DateTimeOffset ExpireTime, RotateHint Rotate);

    /// <summary>The call that replaces the key (identity's RotateApiKey over REST).</summary>
    internal sealed record RotateHint(string Method, string Path);
}
