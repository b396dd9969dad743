using Grpc.Core;
using Veil.ServiceDefaults.Retry;

namespace Veil.Edge.Dependencies;

/// <summary>
/// Follows one server stream for the edge's whole life — catalog's gateway config, identity's and
/// subscriptions' invalidations. The stream lives as long as its connection (no deadline; HTTP/2
/// keep-alive pings on the channel notice a dead peer). When it ends or fails, the follower
/// reports the outage once, reconnects with capped, jittered exponential backoff
/// (<c>Edge:WatchBackoffInitial</c> → <c>Edge:WatchBackoffMax</c>) and never dies of a bad message.
/// </summary>
internal abstract class StreamFollower<TMessage>(EdgeOptions options, TimeProvider time) : BackgroundService
{
    /// <summary>How the services name this edge in their logs.</summary>
    protected string EdgeId { get; } = options.EdgeId ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>The clock of the backoff and of anything else the follower times.</summary>
    protected TimeProvider Time { get; } = time;

    /// <summary>Opens the stream.</summary>
    protected abstract AsyncServerStreamingCall<TMessage> Open(CancellationToken cancellationToken);

    /// <summary>Applies one message; <paramref name="first"/> is true for the first since (re)connecting.</summary>
    protected abstract void Apply(TMessage message, bool first);

    /// <summary>The first message since (re)connecting was applied: the stream is up.</summary>
    protected abstract void Connected(TMessage message);

    /// <summary>The stream is down; called once per outage (<paramref name="everConnected"/>: it was up before).</summary>
    protected abstract void Lost(StatusCode status, bool everConnected, Exception? error);

    /// <summary>The next attempt waits <paramref name="delay"/> (log at Debug).</summary>
    protected abstract void Retrying(StatusCode status, TimeSpan delay);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = new Backoff(options.WatchBackoffInitial, options.WatchBackoffMax);
        var failures = 0;
        var everConnected = false;
        var reportedDown = false;

        while (!stoppingToken.IsCancellationRequested)
        {
            StatusCode status;
            Exception? error = null;
            var connected = false;
            try
            {
                using var call = Open(stoppingToken);
                await foreach (var message in call.ResponseStream.ReadAllAsync(stoppingToken))
                {
                    Apply(message, first: !connected);
                    if (!connected)
                    {
                        connected = everConnected = true;
                        reportedDown = false;
                        failures = 0;
                        Connected(message);
                    }
                }
                status = StatusCode.Unavailable; // the server ended the stream (e.g. shutting down)
            }
            catch (Exception ex) when (Stopping.Cancelled(ex, stoppingToken))
            {
                return;
            }
            catch (RpcException ex) when (!stoppingToken.IsCancellationRequested)
            {
                status = ex.StatusCode;
                error = ex;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Never let the follower die: a bug in one message must not stop later ones.
                status = StatusCode.Internal;
                error = ex;
            }

            if (!reportedDown)
            {
                reportedDown = true;
                Lost(status, everConnected, error);
            }

            // Jittered: a fleet of edges must not reconnect in lockstep after a service restart (Backoff).
            var delay = backoff.Jittered(++failures);
            Retrying(status, delay);
            try
            {
                await Task.Delay(delay, Time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
