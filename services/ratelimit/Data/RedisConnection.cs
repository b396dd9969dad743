using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Veil.RateLimit.Data;

/// <summary>
/// The one <see cref="ConnectionMultiplexer"/> of the process, connected in the background from
/// start (the service starts, and answers UNAVAILABLE, while Redis is down) and reconnecting by
/// itself. Commands fail at once while disconnected instead of queueing, so a dead Redis costs
/// no waiting.
/// </summary>
public sealed class RedisConnection : IAsyncDisposable
{
    private static readonly TimeSpan RetryCreateAfter = TimeSpan.FromSeconds(1);

    private readonly ConfigurationOptions _options;
    private readonly ILogger<RedisConnection> _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Task<ConnectionMultiplexer>? _connecting;
    private long _lastAttempt;
    private int _failed;

    public RedisConnection(IOptions<VeilRedisSettings> settings, TimeProvider time, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        _time = time;
        _options = CreateOptions(settings.Value);
    }

    /// <summary>The client options built from <see cref="VeilRedisSettings.Configuration"/>.</summary>
    internal static ConfigurationOptions CreateOptions(VeilRedisSettings settings)
    {
        var options = ConfigurationOptions.Parse(settings.Configuration ?? "");
        // Start and keep retrying in the background instead of failing when Redis is down.
        options.AbortOnConnectFail = false;
        // While disconnected, fail each command at once (the caller answers UNAVAILABLE and the
        // edge degrades) instead of queueing it until the connection returns.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        // Reconnect soon after Redis returns: 250 ms, doubling to at most 5 s.
        options.ReconnectRetryPolicy = new ExponentialRetry(250, 5000);
        options.ClientName ??= "veil-ratelimit";
        return options;
    }

    /// <summary>
    /// The multiplexer, waiting for the first connection attempt if it is still under way
    /// (bounded by <paramref name="cancellationToken"/>, i.e. the caller's timeout).
    /// </summary>
    public async Task<ConnectionMultiplexer> GetAsync(CancellationToken cancellationToken) =>
        await Connecting().WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The multiplexer, or null while the first connection attempt is under way.</summary>
    public ConnectionMultiplexer? TryGet()
    {
        var connecting = Connecting();
        return connecting.IsCompletedSuccessfully ? connecting.Result : null;
    }

    private Task<ConnectionMultiplexer> Connecting()
    {
        var current = Volatile.Read(ref _connecting);
        if (current is not null && !current.IsFaulted)
        {
            return current;
        }
        lock (_gate)
        {
            if (_connecting is { IsFaulted: false })
            {
                return _connecting;
            }
            if (_connecting is not null)
            {
                _ = _connecting.Exception; // observed: it was logged when it happened
                if (_time.GetElapsedTime(_lastAttempt) < RetryCreateAfter)
                {
                    return _connecting; // failed a moment ago: do not hammer
                }
            }
            _lastAttempt = _time.GetTimestamp();
            _connecting = ConnectAsync();
            return _connecting;
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        // Endpoints and the sentinel service name only: the options' string holds the password.
        RateLimitLog.RedisConnecting(_logger, string.Join(", ", _options.EndPoints.Select(e => e.ToString())), _options.ServiceName ?? "none");
        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(_options).ConfigureAwait(false);
            // Log the transitions of the command connection once each, not every reconnect attempt.
            multiplexer.ConnectionFailed += (_, e) =>
            {
                if (e.ConnectionType == ConnectionType.Interactive && Interlocked.Exchange(ref _failed, 1) == 0)
                {
                    RateLimitLog.RedisConnectionFailed(_logger, e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception);
                }
            };
            multiplexer.ConnectionRestored += (_, e) =>
            {
                if (e.ConnectionType == ConnectionType.Interactive && Interlocked.Exchange(ref _failed, 0) == 1)
                {
                    RateLimitLog.RedisConnectionRestored(_logger, e.EndPoint?.ToString() ?? "?");
                }
            };
            if (multiplexer.IsConnected)
            {
                RateLimitLog.RedisConnected(_logger, string.Join(", ", multiplexer.GetEndPoints().Select(e => e.ToString())));
            }
            return multiplexer;
        }
        catch (Exception ex)
        {
            RateLimitLog.RedisConnectFailed(_logger, ex);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var connecting = Volatile.Read(ref _connecting);
        if (connecting is null)
        {
            return;
        }
        if (connecting.IsCompletedSuccessfully)
        {
            await connecting.Result.DisposeAsync().ConfigureAwait(false);
            return;
        }
        // Still connecting at shutdown: close the connection whenever it arrives.
        _ = connecting.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }
}
