using System.Diagnostics;
using System.Reflection;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace Veil.RateLimit.Data;

/// <summary>
/// Buckets in Redis, shared by every replica of the service: one atomic Lua script per bucket
/// (<c>token_bucket.lua</c>) with Redis <c>TIME</c> as the clock, the scripts of a batch
/// pipelined on one connection. Each batch runs inside the <c>veil-redis</c> resilience pipeline
/// (a timeout inside a circuit breaker), so a dead, slow or paused Redis turns into a quick
/// <see cref="StoreUnavailableException"/>, never a hang.
/// </summary>
public sealed class RedisBucketStore(RedisConnection connection, ResiliencePipeline pipeline, VeilRedisSettings settings, RateLimitMetrics metrics) : IBucketStore
{
    /// <summary>The resilience pipeline's name in DI.</summary>
    public const string PipelineName = "veil-redis";

    // Loaded once. StackExchange.Redis sends the body (EVAL) once per server, then only its SHA1
    // (EVALSHA), and re-sends the body by itself when a restarted Redis answers NOSCRIPT.
    private static readonly string Script = LoadScript();

    private readonly RedisKey _prefix = settings.KeyPrefix;

    public string Name => "redis";

    public Task<BucketBatch> AcquireAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken) =>
        RunAsync(requests, giveBack: false, cancellationToken);

    public Task<BucketBatch> ReturnAsync(IReadOnlyList<BucketRequest> requests, CancellationToken cancellationToken) =>
        RunAsync(requests, giveBack: true, cancellationToken);

    private async Task<BucketBatch> RunAsync(IReadOnlyList<BucketRequest> requests, bool giveBack, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var replies = await pipeline.ExecuteAsync(
                static async (state, token) =>
                {
                    // Waits for the first connection only within the call's budget.
                    var database = (await state.connection.GetAsync(token).ConfigureAwait(false)).GetDatabase();
                    return await EvaluateAsync(database, state.prefix, state.requests, state.giveBack).WaitAsync(token).ConfigureAwait(false);
                },
                (connection, prefix: _prefix, requests, giveBack),
                cancellationToken).ConfigureAwait(false);
            metrics.RedisCall(Stopwatch.GetElapsedTime(started), "ok");
            return ToBatch(replies);
        }
        catch (BrokenCircuitException ex)
        {
            throw Unavailable("breaker_open", "The Redis circuit breaker is open.", ex);
        }
        catch (TimeoutRejectedException ex)
        {
            metrics.RedisCall(Stopwatch.GetElapsedTime(started), "timeout");
            throw Unavailable("timeout", $"Redis did not answer within {settings.Timeout.TotalMilliseconds} ms.", ex);
        }
        catch (RedisConnectionException ex)
        {
            metrics.RedisCall(Stopwatch.GetElapsedTime(started), "error");
            throw Unavailable("connection", "Redis is not reachable.", ex);
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ObjectDisposedException or IOException)
        {
            metrics.RedisCall(Stopwatch.GetElapsedTime(started), "error");
            throw Unavailable("error", "Redis failed the decision.", ex);
        }
    }

    /// <summary>
    /// Loads the script on every primary once connected (SCRIPT LOAD), so that the first
    /// decisions already go out as EVALSHA and fit the call budget. Best effort.
    /// </summary>
    public async Task WarmUpAsync(ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            var multiplexer = await connection.GetAsync(cancellationToken).ConfigureAwait(false);
            foreach (var server in multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                await server.ScriptLoadAsync(Script).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            RateLimitLog.WarmUpFailed(logger, ex);
        }
    }

    private static Task<RedisResult[]> EvaluateAsync(IDatabase database, RedisKey prefix, IReadOnlyList<BucketRequest> requests, bool giveBack)
    {
        // All scripts of the batch go out back to back on the multiplexed connection (one round
        // trip); each is atomic on its own bucket, which keeps the store ready for Redis Cluster.
        var calls = new Task<RedisResult>[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            calls[i] = database.ScriptEvaluateAsync(Script,
                [prefix.Append(r.Bucket)],
                [r.RatePerSecond, r.Burst, r.Tokens, giveBack ? "1" : "0"]);
        }
        var all = Task.WhenAll(calls);
        // A batch abandoned by the timeout still completes (or fails) later; observe it so its
        // failure is not reported as unobserved. Its tokens are lost, never granted twice.
        _ = all.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return all;
    }

    private static BucketBatch ToBatch(RedisResult[] replies)
    {
        var decisions = new BucketDecision[replies.Length];
        long serverTimeMicros = 0;
        for (var i = 0; i < replies.Length; i++)
        {
            var reply = (RedisResult[])replies[i]!;
            decisions[i] = new BucketDecision((long)reply[0], (long)reply[1], (long)reply[2]);
            serverTimeMicros = Math.Max(serverTimeMicros, (long)reply[3]);
        }
        return new BucketBatch(decisions, serverTimeMicros / 1000);
    }

    private StoreUnavailableException Unavailable(string cause, string message, Exception? inner = null)
    {
        metrics.Unavailable(Name, cause);
        return new StoreUnavailableException(cause, message, inner);
    }

    private static string LoadScript()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Veil.RateLimit.Data.token_bucket.lua")
            ?? throw new InvalidOperationException("token_bucket.lua is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
