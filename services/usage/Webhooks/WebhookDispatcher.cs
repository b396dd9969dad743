using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Veil.ServiceDefaults.Retry;
using Veil.ServiceDefaults.Security;
using Veil.Usage.Data;

namespace Veil.Usage.Webhooks;

/// <summary>
/// Delivers the notification outbox to consumers' webhooks: at least once (a notification is
/// completed only after a 2xx, so a crash or stop mid-attempt repeats it with the same
/// <c>webhook-id</c>), with exponential backoff capped at
/// <see cref="UsageOptions.WebhookOptions.MaxBackoff"/>, up to
/// <see cref="UsageOptions.WebhookOptions.MaxAttempts"/> attempts, every attempt logged for the
/// consumer. Each attempt is signed as Standard Webhooks defines (<see cref="WebhookSignature"/>)
/// and, for one more release, with the legacy <c>X-Veil-*</c> headers too. Woken by ingest when a
/// batch queues notifications, and by its own timer when a retry falls due.
/// </summary>
public sealed class WebhookDispatcher : BackgroundService
{
    /// <summary>Purpose (associated data) of a sealed webhook secret, followed by the consumer id.</summary>
    public const string SecretPurpose = "usage/webhook-secret/";

    // Legacy headers, sent alongside the Standard Webhooks ones until the next release.
    public const string EventIdHeader = "X-Veil-Event-Id";
    public const string TimestampHeader = "X-Veil-Timestamp";
    public const string SignatureHeader = "X-Veil-Signature";
    private const int BatchSize = 32;
    private static readonly TimeSpan IdleRecheck = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan AfterFailure = TimeSpan.FromSeconds(1);

    private readonly UsageStore _store;
    private readonly TimeProvider _time;
    private readonly SecretProtection _protection;
    private readonly UsageMetrics _metrics;
    private readonly UsageOptions.WebhookOptions _options;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly HttpClient _http;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public WebhookDispatcher(UsageStore store, TimeProvider time, SecretProtection protection, UsageMetrics metrics,
        IOptions<UsageOptions> options, IHostResolver resolver, ILogger<WebhookDispatcher> logger)
    {
        _store = store;
        _time = time;
        _protection = protection;
        _metrics = metrics;
        _options = options.Value.Webhooks;
        _logger = logger;
        // Not from IHttpClientFactory on purpose: the fleet's default handlers include service
        // discovery, which would resolve a consumer's "http://identity/..." to an internal
        // service. This client resolves names itself and refuses private addresses.
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectCallback = GuardedConnect.Create(resolver, options.Value.AllowPrivateWebhooks),
        })
        {
            Timeout = _options.Timeout,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Veil-Webhooks/1.0");
        store.Committed += effects =>
        {
            foreach (var n in effects.Notifications)
            {
                _metrics.NotificationQueued(n.ThresholdPercent);
                UsageLog.ThresholdReached(_logger, n.SubscriptionId, n.ThresholdPercent, DateTimeOffset.FromUnixTimeMilliseconds(n.CycleStartMs));
            }
            if (effects.Notifications.Count > 0)
            {
                Wake();
            }
        };
    }

    /// <summary>Seals <paramref name="consumerId"/>'s webhook secret for storage.</summary>
    public string ProtectSecret(string consumerId, string secret) => _protection.ProtectString(secret, SecretPurpose + consumerId);

    /// <summary>Signals that the outbox has new notifications. Never blocks.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            while (_wake.Reader.TryRead(out _))
            {
            }
            TimeSpan wait;
            try
            {
                await DeliverDueAsync(stoppingToken);
                var next = await _store.NextNotificationDueAsync(stoppingToken);
                var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
                wait = next is { } due ? TimeSpan.FromMilliseconds(Math.Clamp(due - now, 0, (long)IdleRecheck.TotalMilliseconds)) : IdleRecheck;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                UsageLog.DispatcherFailed(_logger, ex);
                wait = AfterFailure;
            }
            if (wait > TimeSpan.Zero)
            {
                using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                await Task.WhenAny(Task.Delay(wait, _time, cancel.Token), _wake.Reader.WaitToReadAsync(cancel.Token).AsTask());
                await cancel.CancelAsync();
            }
        }
    }

    private async Task DeliverDueAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            var due = await _store.DueNotificationsAsync(_time.GetUtcNow().ToUnixTimeMilliseconds(), BatchSize, stoppingToken);
            if (due.Count == 0)
            {
                return;
            }
            await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = stoppingToken },
                async (notification, ct) => await DeliverAsync(notification, ct));
        }
    }

    private async Task DeliverAsync(PendingNotification notification, CancellationToken stoppingToken)
    {
        var webhook = await _store.GetWebhookAsync(notification.ConsumerId, stoppingToken);
        var now = _time.GetUtcNow();
        if (webhook is null)
        {
            await _store.CompleteWithoutWebhookAsync(notification, now.ToUnixTimeMilliseconds(), stoppingToken);
            _metrics.DeliveryAttempt("no_webhook");
            UsageLog.WebhookMissing(_logger, notification.Id, notification.ConsumerId);
            return;
        }

        var attempt = notification.Attempts + 1;
        var started = _time.GetTimestamp();
        int statusCode = 0;
        string error = "";
        try
        {
            var body = Encoding.UTF8.GetBytes(notification.Payload);
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
            {
                Content = new ByteArrayContent(body) { Headers = { ContentType = new("application/json") { CharSet = "utf-8" } } },
            };
            var secret = _protection.UnprotectString(webhook.ProtectedSecret, SecretPurpose + notification.ConsumerId);
            var timestamp = now.ToUnixTimeSeconds();
            request.Headers.Add(WebhookSignature.IdHeader, notification.Id);
            request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(WebhookSignature.KeyOf(secret), notification.Id, timestamp, body));
            request.Headers.Add(EventIdHeader, notification.Id);
            request.Headers.Add(TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.Add(SignatureHeader, WebhookSignature.SignLegacy(secret, body));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stoppingToken);
            statusCode = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                error = $"The receiver answered HTTP {statusCode}.";
            }
        }
        catch (TaskCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            error = $"No response within {_options.Timeout.TotalSeconds:0.###} s.";
        }
        catch (HttpRequestException ex)
        {
            error = ex.Message;
        }
        catch (CryptographicException ex)
        {
            UsageLog.WebhookSecretUnreadable(_logger, notification.ConsumerId, ex);
            error = "The webhook secret cannot be read; set the webhook again.";
        }
        var duration = (long)_time.GetElapsedTime(started).TotalMilliseconds;
        var succeeded = error.Length == 0;
        var after = _time.GetUtcNow().ToUnixTimeMilliseconds();

        NotificationStatus status;
        long next = after;
        if (succeeded)
        {
            status = NotificationStatus.Delivered;
            _metrics.DeliveryAttempt("delivered");
            UsageLog.WebhookDelivered(_logger, notification.Id, attempt, statusCode);
        }
        else if (attempt >= _options.MaxAttempts)
        {
            status = NotificationStatus.Failed;
            _metrics.DeliveryAttempt("failed");
            UsageLog.WebhookGaveUp(_logger, notification.Id, attempt);
        }
        else
        {
            status = NotificationStatus.Pending;
            var delay = new Backoff(_options.InitialBackoff, _options.MaxBackoff).Delay(attempt);
            next = after + (long)Math.Ceiling(delay.TotalMilliseconds);
            _metrics.DeliveryAttempt("retry");
            UsageLog.WebhookAttemptFailed(_logger, notification.Id, attempt, statusCode, error, delay);
        }
        // The stop token is not passed on: an attempt that was made is always recorded.
        await _store.RecordAttemptAsync(notification, attempt, now.ToUnixTimeMilliseconds(), webhook.Url, statusCode, error,
            succeeded, duration, status, next, CancellationToken.None);
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
